"""Enter one container "instance" (run as root inside ``unshare --mount``): mount its filesystem,
change root into it, drop to the image's uid/gid, chdir to the planned working dir and exec the
planned command -- the same process, so its pid, uid and environ are the container's.

Usage: ``unshare --mount --propagation private -- python enter_instance.py SPEC.json``.
SPEC: ``{"mounts": [[kind, source, target], ...], "root", "uid", "gid", "cwd", "argv", "env"}``
with kind ``overlay`` (source: its ``lowerdir=…,upperdir=…,workdir=…`` options), ``copy``
(source copied onto target), ``proc``,
``bind``, ``rbind`` or ``tmpfs``, applied in order; then ``chroot(root)``.
Stdlib only: it runs before the instance's environment exists.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys


def mount(kind: str, source: str, target: str) -> None:
    if not os.path.exists(target):
        if os.path.isfile(source):
            open(target, "a").close()  # a file bind-mounted onto a path the image lacks
        else:
            os.makedirs(target)
    if kind == "bind":
        command = ["mount", "--bind", source, target]
    elif kind == "rbind":  # with the binds made inside source
        command = ["mount", "--rbind", source, target]
    elif kind == "copy":  # a fresh copy of the image (where overlayfs is refused)
        command = ["cp", "-a", f"{source}/.", target]
    elif kind == "overlay":
        command = ["mount", "-t", "overlay", "overlay", "-o", source, target]
    elif kind == "proc":
        command = ["mount", "-t", "proc", "proc", target]
    elif kind == "tmpfs":
        command = ["mount", "-t", "tmpfs", "-o", "mode=0755,size=16m", "tmpfs", target]
    else:
        raise SystemExit(f"enter_instance: unknown mount kind {kind!r}")
    subprocess.run(command, check=True)


def main(spec_path: str) -> None:
    with open(spec_path) as handle:
        spec = json.load(handle)
    for kind, source, target in spec["mounts"]:
        mount(kind, source, target)
    if spec.get("root"):
        os.chroot(spec["root"])
    os.setgroups([])
    os.setgid(spec["gid"])
    os.setuid(spec["uid"])
    os.chdir(spec["cwd"])
    os.umask(0o022)
    argv, env = spec["argv"], spec["env"]
    os.execvpe(argv[0], argv, env)


if __name__ == "__main__":
    main(sys.argv[1])

"""Enter one container "instance" (run as root inside ``unshare --mount``): mount its filesystem,
drop to the image's uid/gid, chdir to the planned working dir and exec the planned command.

Usage: ``unshare --mount --propagation private -- python enter_instance.py SPEC.json``.
SPEC: ``{"mounts": [[kind, source, target], ...], "uid", "gid", "cwd", "argv", "env"}`` with kind
``bind`` (source on target) or ``tmpfs`` (an empty 0755 tmpfs on target); applied in order.
Stdlib only: it runs before the instance's environment exists.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys


def mount(kind: str, source: str, target: str) -> None:
    if not os.path.exists(target):
        os.makedirs(target)
    if kind == "bind":
        command = ["mount", "--bind", source, target]
    elif kind == "rbind":  # with the binds made inside source
        command = ["mount", "--rbind", source, target]
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
    os.setgroups([])
    os.setgid(spec["gid"])
    os.setuid(spec["uid"])
    os.chdir(spec["cwd"])
    os.umask(0o022)
    argv, env = spec["argv"], spec["env"]
    os.execvpe(argv[0], argv, env)


if __name__ == "__main__":
    main(sys.argv[1])

"""Build the repository's Dockerfile here, with no Docker engine and no registry: buildah with
chroot isolation, on a Debian bookworm base made from Debian's packages.

``python -m tools.image build`` (``make image``) builds ``localhost/mage-gcp:local`` and prints its
size; the Cloud Run contract layer (tests/cloudrun) builds the same way and runs the planned
containers inside the result (:func:`rootfs`).

- The base: ``debootstrap --variant=minbase bookworm`` -- what ``debian:bookworm-slim`` is made
  of -- imported once as :data:`BASE_TAG` and kept in buildah's storage between runs.
- The build: the Dockerfile as it is, ``BASE_IMAGE`` replaced by the local base; ``--layers`` so
  an unchanged lock reuses the installed layer; the host's uv cache mounted so a changed lock
  installs from cached wheels (about a minute); the host's CA bundle for a TLS proxy.
- Storage of our own (:data:`STORAGE`), never the machine's default: the overlay driver where the
  kernel mounts overlayfs (a layer is a diff: seconds), else vfs (a layer is a full copy).
- Builds of one storage take turns (a flock): pytest-xdist workers build at the same time.
Needs root and buildah + debootstrap (scripts/setup.sh installs them).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tools.offline import REPO_ROOT

BASE_TAG = "localhost/mage-gcp-base:bookworm-minbase"
IMAGE_TAG = "localhost/mage-gcp:local"
STORAGE = Path("/var/lib/mage-gcp/buildah")
RUNROOT = Path("/run/mage-gcp-buildah")
MIRROR = "http://deb.debian.org/debian"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
LOCK = Path(tempfile.gettempdir()) / "mage-gcp-buildah.lock"
#: Where a built image's root filesystem is copied for the contract layer, one folder per image id.
ROOTFS = Path("/var/lib/mage-gcp/rootfs")


class ImageBuildError(RuntimeError):
    """The image cannot be built here; the message says why and what to do."""


def _buildah(*args: str, timeout: float = 1800, check: bool = True) -> str:
    if shutil.which("buildah") is None:
        raise ImageBuildError(
            "buildah is not installed; run scripts/setup.sh as root (or with passwordless sudo), "
            "or `apt-get install buildah debootstrap`."
        )
    driver = storage_driver()
    command = ["buildah", "--root", str(STORAGE / driver), "--runroot", str(RUNROOT / driver),
               "--storage-driver", driver, *args]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise ImageBuildError(
            f"`{' '.join(command[:6])} …` failed ({result.returncode}):\n"
            f"{(result.stderr or result.stdout)[-4000:]}"
        )
    return result.stdout


@functools.cache
def storage_driver() -> str:
    """``overlay`` when this kernel mounts overlayfs in a private mount namespace, else ``vfs``."""
    probe = Path(tempfile.mkdtemp(prefix="mage-gcp-overlay-probe-"))
    try:
        for part in ("lower", "upper", "work", "merged"):
            (probe / part).mkdir()
        options = f"lowerdir={probe}/lower,upperdir={probe}/upper,workdir={probe}/work"
        result = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "--",
             "mount", "-t", "overlay", "overlay", "-o", options, str(probe / "merged")],
            capture_output=True, timeout=30,
        )  # fmt: skip
        return "overlay" if result.returncode == 0 else "vfs"
    except (OSError, subprocess.SubprocessError):
        return "vfs"
    finally:
        shutil.rmtree(probe, ignore_errors=True)


@contextlib.contextmanager
def _turn() -> Iterator[None]:
    """One build (or checkout) of this machine's buildah storage at a time."""
    with LOCK.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def image_id(tag: str) -> str | None:
    """The id of the local image ``tag``, or None when there is none."""
    out = _buildah("images", "--json", "--no-trunc", tag, check=False).strip()
    try:
        found = json.loads(out) if out else []
    except json.JSONDecodeError:
        return None
    return found[0]["id"] if found else None


def ensure_base(tag: str = BASE_TAG) -> str:
    """The local bookworm base image (made once per machine: about 90 s); returns its tag."""
    with _turn():
        if image_id(tag):
            return tag
        if shutil.which("debootstrap") is None:
            raise ImageBuildError("debootstrap is not installed; `apt-get install debootstrap`.")
        work = Path(tempfile.mkdtemp(prefix="mage-gcp-base-", dir="/var/tmp"))
        try:
            rootfs = work / "rootfs"
            result = subprocess.run(
                ["debootstrap", "--variant=minbase", "bookworm", str(rootfs), MIRROR],
                capture_output=True, text=True, timeout=1200,
            )  # fmt: skip
            if result.returncode != 0:
                raise ImageBuildError(
                    f"debootstrap of bookworm from {MIRROR} failed:\n{result.stdout[-2000:]}"
                )
            for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
                for item in (rootfs / cache).glob("*"):
                    if item.is_file():
                        item.unlink()
            container = _buildah("from", "scratch").strip()
            try:
                mount = Path(_buildah("mount", container).strip())
                subprocess.run(["cp", "-a", f"{rootfs}/.", str(mount)], check=True)
                _buildah("umount", container)
                _buildah(
                    "config",
                    "--env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "--cmd", "bash", container,
                )  # fmt: skip
                _buildah("commit", "--quiet", container, tag)
            finally:
                _buildah("rm", container, check=False)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return tag


def uv_cache_dir() -> Path | None:
    """The host's uv cache (setup.sh filled it from the same lock), if uv is found."""
    for uv in (shutil.which("uv"), REPO_ROOT / ".venv-uv" / "bin" / "uv"):
        if uv and Path(uv).exists():
            out = subprocess.run([str(uv), "cache", "dir"], capture_output=True, text=True)
            if out.returncode == 0 and out.stdout.strip():
                path = Path(out.stdout.strip())
                path.mkdir(parents=True, exist_ok=True)
                return path
    return None


@dataclass(frozen=True)
class Built:
    """A built image: its tag, id and OCI config (Env, User, WorkingDir, Cmd, ...)."""

    tag: str
    id: str
    config: dict
    seconds: float

    @property
    def env(self) -> dict[str, str]:
        return dict(e.split("=", 1) for e in self.config.get("Env") or [])

    @property
    def size(self) -> str:
        """The image's size as buildah reports it (e.g. ``1.68 GB``: all layers, uncompressed)."""
        out = _buildah("images", "--json", self.tag)
        return str(json.loads(out)[0].get("size", "?"))


def build(
    context: Path = REPO_ROOT,
    tag: str = IMAGE_TAG,
    dockerfile: Path | None = None,
    log: Path | None = None,
) -> Built:
    """Build ``context``'s Dockerfile with the local base; the image's tag, id and config."""
    base = ensure_base()
    args = [
        "bud", "--isolation", "chroot", "--layers", "--pull-never",
        "--build-arg", f"BASE_IMAGE={base}",
        "-f", str(dockerfile or context / "Dockerfile"), "-t", tag,
    ]  # fmt: skip
    cache = uv_cache_dir()
    if cache is not None:
        args += [
            "--volume",
            f"{cache}:/host-uv-cache",
            "--build-arg",
            "UV_CACHE_DIR=/host-uv-cache",
        ]
    if HOST_CA.exists():
        args += ["--volume", f"{HOST_CA}:/etc/ssl/host-ca.pem:ro",
                 "--build-arg", "SSL_CERT_FILE=/etc/ssl/host-ca.pem"]  # fmt: skip
    started = time.monotonic()
    with _turn():
        out = _buildah(*args, str(context))
    if log is not None:
        log.write_text(out)
    return inspect(tag, seconds=time.monotonic() - started)


def inspect(tag: str, seconds: float = 0.0) -> Built:
    data = json.loads(_buildah("inspect", "--type", "image", tag))
    config = (data.get("OCIv1") or {}).get("config") or {}
    return Built(tag=tag, id=data["FromImageID"], config=config, seconds=seconds)


def rootfs(image: Built) -> Path:
    """The image's root filesystem, copied once per image id into a folder of our own
    (:data:`ROOTFS`) and shared read-only: each contract-layer instance mounts it as the lower
    layer of an overlay of its own (a fresh filesystem per container start). A copy, not
    buildah's own mount, so that no later buildah call (another worker's build or checkout) can
    unmount it under a running instance; it stays until :func:`prune`."""
    slug = "".join(c if c.isalnum() else "-" for c in image.tag.split("/")[-1])
    target = ROOTFS / f"{slug}-{image.id[:12]}"
    with _turn():
        if (target / ".mage-gcp-complete").exists():
            return target
        partial = Path(f"{target}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        container = _buildah("from", "--pull-never", image.tag).strip()
        try:
            mount = _buildah("mount", container).strip()
            subprocess.run(["cp", "-a", f"{mount}/.", str(partial)], check=True, timeout=600)
            _buildah("umount", container, check=False)
        finally:
            _buildah("rm", container, check=False)
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
        (target / ".mage-gcp-complete").touch()
        return target


def prune() -> list[str]:
    """Remove every root-filesystem copy and every container of our buildah storage (run
    before a test session: none is in use; a killed build leaves its working container) and the
    dangling layers of earlier builds; returns the copies removed."""
    with _turn():
        removed = sorted(p.name for p in ROOTFS.glob("*")) if ROOTFS.exists() else []
        shutil.rmtree(ROOTFS, ignore_errors=True)
        _buildah("rm", "--all", check=False)
        _buildah("rmi", "--prune", check=False)
    return removed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.image", description=__doc__.split("\n")[0]
    )
    parser.add_argument("command", choices=["build", "prune"])
    parser.add_argument("--tag", default=IMAGE_TAG)
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("tools.image: buildah here needs root; run it as root or with sudo.", file=sys.stderr)
        return 2
    if args.command == "prune":
        removed = prune() if shutil.which("buildah") else []
        print(f"removed {len(removed)} root-filesystem copies")
        return 0
    try:
        built = build(tag=args.tag)
    except ImageBuildError as error:
        print(f"tools.image: {error}", file=sys.stderr)
        return 1
    print(f"built {built.tag} ({built.id[:12]}): {built.size} in {built.seconds:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The image Cloud Run runs, built here from the repository's Dockerfile (tools.image): one Python
(3.11) and one resolution (uv.lock's `mage` group) with the test suite; the project and the runner
where the planned commands expect them, owned as prod's read-only project needs; and the contract
turns red when the image is broken (a package removed from the lock, a COPY removed, USER changed).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from importlib.metadata import distributions
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from infra.components.runtime_env import IMAGE_USER
from tests.cloudrun.harness import (
    REPO_ROOT,
    ContractError,
    Image,
    planned_containers,
    start_instance,
)

#: What the Dockerfile's build context may hold (.dockerignore is an allowlist).
CONTEXT = ["Dockerfile", ".dockerignore", "pyproject.toml", "uv.lock", "mage_project", "scripts"]


def image_python(image: Image) -> str:
    """The image's Python version, read from its own binary's package (no process started)."""
    (lib,) = image.path("/opt/venv/lib").glob("python3.*")
    config = image.path("/opt/venv/pyvenv.cfg").read_text()
    found = re.search(r"^version(?:_info)?\s*=\s*([\d.]+)", config, re.M)
    assert found, config
    assert lib.name == "python3.11"
    return found.group(1)


def installed(site_packages: Path) -> dict[str, str]:
    """``{name: version}`` of the distributions in a site-packages folder."""
    return {
        canonicalize_name(d.metadata["Name"]): d.version
        for d in distributions(path=[str(site_packages)])
    }


def locked_runtime(python: str) -> dict[str, str]:
    """uv.lock's `mage` group as uv installs it for ``python`` on Linux x86_64."""
    uv = shutil.which("uv") or str(REPO_ROOT / ".venv-uv" / "bin" / "uv")
    out = subprocess.run(
        [uv, "export", "--frozen", "--no-dev", "--only-group", "mage", "--no-hashes",
         "--no-emit-project", "--no-header", "--no-annotate"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=120,
    ).stdout  # fmt: skip
    env = default_environment() | {
        "python_full_version": python,
        "python_version": ".".join(python.split(".")[:2]),
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "x86_64",
    }
    wanted = {}
    for line in out.splitlines():
        if not line.strip() or line.startswith(("#", "-")):
            continue
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate(env):
            (spec,) = req.specifier
            wanted[canonicalize_name(req.name)] = spec.version
    return wanted


def test_image_runs_as_the_planned_user_in_home_src(image):
    uid, gid = IMAGE_USER
    assert (image.uid, image.gid, image.workdir) == (uid, gid, "/home/src")
    assert image.user_home == "/home/mage"
    assert image.env["MAGE_DATA_DIR"] == "/home/src/mage_data"
    assert image.env["PATH"].startswith("/opt/venv/bin:")


def test_one_python_and_one_resolution(image):
    """The image's Python is 3.11, like .venv's, and its packages are exactly uv.lock's `mage`
    group for that Python -- the versions every test runs with (.venv is synced from the same
    lock); the only differences allowed are the lock's own, by Python patch version."""
    python = image_python(image)
    assert python.startswith("3.11."), python
    assert sys.version_info[:2] == (3, 11)
    site = image.path("/opt/venv/lib/python3.11/site-packages")
    got = installed(site)
    wanted = locked_runtime(python)
    assert got == wanted, {
        "missing": sorted(set(wanted) - set(got)),
        "extra": sorted(set(got) - set(wanted)),
        "other version": sorted(n for n in set(got) & set(wanted) if got[n] != wanted[n]),
    }
    here = installed(Path(next(p for p in sys.path if p.endswith("site-packages"))))
    local = locked_runtime(".".join(map(str, sys.version_info[:3])))
    same_lock_entry = {n for n in wanted if local.get(n) == wanted[n]}
    differ = sorted(n for n in same_lock_entry if here.get(n) != wanted[n])
    assert not differ, f"the image and .venv install other versions of {differ}"


def test_the_project_and_the_runner_are_copied_whole_and_read_only(image):
    """/home/src holds the project and the runner, each exactly its repository folder (minus
    what .dockerignore drops); the runner lives beside the project, so the dev project volume
    mounted over /home/src/mage_project never shadows it (docs/hosted-ui.md); the user owns its
    data folder but cannot change the project (prod's "code only from git")."""
    for source, dest in (("mage_project", "/home/src/mage_project"),
                         ("scripts/mage_runner", "/home/src/mage_runner"),
                         ("mage_project", "/opt/mage-gcp/seed/mage_project")):  # fmt: skip
        expected = {
            str(p.relative_to(REPO_ROOT / source))
            for p in (REPO_ROOT / source).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and not p.name.endswith(".pyc")
            and not {".file_versions", ".cache", "mage_data"} & set(p.parts)
        }  # fmt: skip
        tree = image.path(dest)
        copied = {
            str(p.relative_to(tree))
            for p in tree.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        }
        assert copied == expected, dest
        compiled = list(tree.rglob("__pycache__/*.cpython-311.pyc"))
        assert compiled, f"{dest} has no bytecode: every cold start would compile it"
    for path in ["/home/src", "/home/src/mage_data", "/home/mage"]:
        assert image.path(path).stat().st_uid == image.uid, f"{path} is not the user's"
    for path in ["/home/src/mage_project", "/home/src/mage_project/metadata.yaml",
                 "/home/src/mage_runner/cli.py"]:  # fmt: skip
        assert image.path(path).stat().st_uid != image.uid, f"the user can change {path}"


# -- each breakage turns the contract red --------------------------------------------------------


def broken_context(tmp_path: Path, edit) -> Path:
    """A copy of the build context with ``edit(context)`` applied."""
    context = tmp_path / "context"
    context.mkdir()
    for name in CONTEXT:
        source = REPO_ROOT / name
        if source.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", ".file_versions", "mage_data")
            shutil.copytree(source, context / name, ignore=ignore)
        else:
            shutil.copy2(source, context / name)
    edit(context)
    return context


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) >= 1, f"{old!r} is not in {path.name}"
    path.write_text(text.replace(old, new))


def test_a_root_user_is_refused(tmp_path):
    context = broken_context(
        tmp_path, lambda c: replace_in(c / "Dockerfile", "USER 10001:10001", "USER root")
    )
    with pytest.raises(ContractError, match="numeric uid"):
        Image.built(context, tag="localhost/mage-gcp:broken-user")


def run_to_end(cloud, root: Path, image: Image, timeout: float = 300):
    """Run the first planned pipeline job (it loads Postgres) to its end: (exit code, log)."""
    pipeline = next(n for n in planned_containers(cloud.plan) if n not in ("ui", "backfill"))
    instance = start_instance(cloud, pipeline, root, image)
    try:
        return instance.wait(timeout), instance.log(20000)
    finally:
        instance.stop()


@pytest.mark.twin
def test_a_removed_copy_fails_the_planned_job(cloud_factory, tmp_path):
    context = broken_context(
        tmp_path,
        lambda c: replace_in(
            c / "Dockerfile", "COPY scripts/mage_runner/ /home/src/mage_runner/\n", ""
        ),
    )
    broken = Image.built(context, tag="localhost/mage-gcp:broken-copy")
    code, log = run_to_end(cloud_factory("dev"), tmp_path, broken)
    assert code != 0 and "No module named mage_runner" in log, log[-2000:]


def drop_from_runtime_group(lock: Path, package: str) -> None:
    """uv.lock without ``package`` in the project's `mage` group (what `uv sync --frozen`
    installs for the image), as if it had been removed from pyproject and re-locked."""
    text = lock.read_text()
    start = text.index("[package.dev-dependencies]\n", text.index('name = "mage-gcp"'))
    group = text.index("\nmage = [", start)
    end = text.index("\n]", group)
    entry = re.compile(rf'\n    {{ name = "{re.escape(package)}"[^\n]*')
    body, count = entry.subn("", text[group:end])
    assert count == 1, f"{package} is not in the mage group of uv.lock"
    lock.write_text(text[:group] + body + text[end:])


@pytest.mark.twin
def test_a_package_removed_from_the_lock_fails_the_planned_job(cloud_factory, tmp_path):
    """psycopg (3: the sinks' Postgres driver and binary COPY) is ours alone, Mage brings only
    psycopg2: without it in the lock's `mage` group the image builds, and the planned job fails."""
    context = broken_context(tmp_path, lambda c: drop_from_runtime_group(c / "uv.lock", "psycopg"))
    broken = Image.built(context, tag="localhost/mage-gcp:broken-lock")
    site_packages = broken.path("/opt/venv/lib/python3.11/site-packages")
    assert not (site_packages / "psycopg").exists() and (site_packages / "psycopg2").exists()
    code, log = run_to_end(cloud_factory("dev"), tmp_path, broken)
    assert code != 0 and re.search(r"No module named '?psycopg'?$", log, re.M), log[-2000:]


@pytest.mark.twin
def test_an_instance_runs_on_a_copy_where_overlayfs_is_refused(
    cloud_factory, image, tmp_path, monkeypatch
):
    """Where the kernel refuses overlayfs, each instance gets a copy of the image instead: the
    planned job still runs inside it, as the image's user, to its end."""
    from tests.cloudrun.harness import INSTANCE_FS_ENV, overlay_instances

    monkeypatch.setenv(INSTANCE_FS_ENV, "copy")
    assert not overlay_instances()
    code, log = run_to_end(cloud_factory("dev"), tmp_path, image)
    assert code == 0, log[-3000:]


def test_make_image_builds_the_image_and_says_its_size(image):
    """README's `make image`: the same build (cached layers here), one line with its size."""
    done = subprocess.run(["make", "-s", "image"], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=1800)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(
        r"^built localhost/mage-gcp:local \([0-9a-f]{12}\): [\d.]+ [kMG]B in \d+ s$",
        done.stdout, re.M,
    ), done.stdout  # fmt: skip

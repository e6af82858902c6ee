"""Make a fresh instance's filesystem what Mage expects before it starts.

* Mage's secrets key: Mage 0.9.80 encrypts UI-created secrets with a Fernet key it keeps in
  ``$MAGE_DATA_DIR/secrets/key`` (+ ``uuid``), generated on first use and read from nothing else
  (``mage_ai/data_preparation/shared/secrets.py``, no env var). On Cloud Run that file is on the
  in-memory filesystem; so the stack keeps the key in Secret Manager (``MAGE_SECRETS_KEY``) and
  this module writes it (and a uuid derived from it) before Mage starts, for the global secrets
  and for the project's and its pipelines' secret scopes.
* The dev project volume: when ``MAGE_PROJECT_SEED`` names the image's copy of the project and
  the (mounted) project folder has no ``metadata.yaml`` yet, the seed is copied in once; later
  starts keep the user's edits.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import shutil
from pathlib import Path

KEY_ENV = "MAGE_SECRETS_KEY"
SEED_ENV = "MAGE_PROJECT_SEED"
SEED_MARKER = ".mage-gcp-seeded"


class InstanceError(RuntimeError):
    """The instance cannot be prepared; the message says what to fix."""


def fernet_key(value: str) -> str:
    """Mage's key format (URL-safe base64 of 32 bytes) from standard or URL-safe base64."""
    text = value.strip()
    try:
        raw = base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise InstanceError(
            f"{KEY_ENV} is not a base64 encoding of 32 bytes; set it from the stack's "
            "Secret Manager secret (pulumi up creates it) or unset it."
        )
    return base64.urlsafe_b64encode(raw).decode()


def key_uuid(key: str) -> str:
    """A stable key uuid (Mage stores it beside each secret row) derived from the key."""
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def secret_scopes(data_dir: Path, project: Path) -> list[Path]:
    """Mage's secrets folders: global, the project's and each of its pipelines'."""
    root = data_dir / "secrets"
    scopes = [root]
    uuid = _project_uuid(project)
    if uuid:
        scopes.append(root / "projects" / uuid)
        pipelines = sorted(p.parent.name for p in (project / "pipelines").glob("*/metadata.yaml"))
        scopes += [root / "projects" / uuid / "pipelines" / name for name in pipelines]
    return scopes


def _project_uuid(project: Path) -> str | None:
    try:
        for line in (project / "metadata.yaml").read_text().splitlines():
            if line.startswith("project_uuid:"):
                return line.split(":", 1)[1].strip().strip("'\"") or None
    except OSError:
        return None
    return None


def write_secrets_key(data_dir: Path, project: Path, value: str) -> list[Path]:
    """Write the key and its uuid into every secrets scope (files readable by us only)."""
    key = fernet_key(value)
    written = []
    for scope in secret_scopes(data_dir, project):
        scope.mkdir(parents=True, exist_ok=True, mode=0o700)
        for name, content in (("key", key), ("uuid", key_uuid(key))):
            path = scope / name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(content)
        written.append(scope)
    return written


def seed_project(seed: Path, project: Path) -> bool:
    """Copy ``seed`` into ``project`` if the project has no metadata.yaml; True if copied.

    The project's ``metadata.yaml`` is written last: it is what tells a start the volume is
    seeded, so another instance starting meanwhile (the tasks of a backfill on a new stack start
    together) or a start after a seed that failed half-way never takes a partial copy for the
    project; it copies again (same files) instead.
    """
    if (project / "metadata.yaml").exists():
        return False
    if not (seed / "metadata.yaml").exists():
        raise InstanceError(
            f"{SEED_ENV}={seed} has no metadata.yaml; point it at the image's copy of the project."
        )
    try:
        project.mkdir(parents=True, exist_ok=True)
        shutil.copytree(
            seed, project, dirs_exist_ok=True,
            ignore=lambda folder, names: ["metadata.yaml"] if Path(folder) == seed else [],
        )  # fmt: skip
        shutil.copy2(seed / "metadata.yaml", project / "metadata.yaml")
        (project / SEED_MARKER).write_text(f"seeded from {seed}\n")
    except OSError as error:  # shutil.Error too: a list of (source, target, why) per file
        failures = error.args[0] if isinstance(error, shutil.Error) and error.args else None
        first = failures[0][2] if isinstance(failures, list) and failures else error
        raise InstanceError(
            f"Cannot seed the project folder {project} as uid {os.getuid()} ({first}); mount the dev project volume as the image's user (gcsfuse mount options uid and gid, docs/hosted-ui.md)."
        ) from None
    return True


def prepare(project: Path, environ: dict[str, str] | None = None) -> list[str]:
    """Seed the project (dev volume) and write the secrets key; return what was done."""
    env = os.environ if environ is None else environ
    done = []
    if env.get(SEED_ENV) and seed_project(Path(env[SEED_ENV]), project):
        done.append(f"seeded {project} from {env[SEED_ENV]}")
    if env.get(KEY_ENV):
        data_dir = Path(env.get("MAGE_DATA_DIR") or Path.home() / ".mage_data")
        scopes = write_secrets_key(data_dir, project, env[KEY_ENV])
        done.append(f"wrote Mage's secrets key to {len(scopes)} scope(s) under {data_dir}")
    return done

"""Check what `make deploy` (`pulumi up`) needs before it starts, and say in one sentence what is
missing: the Pulumi CLI, uv (Pulumi.yaml runs the program with `toolchain: uv`), gcloud
Application Default Credentials, Docker with buildx and a running daemon, and a stack config
whose example placeholders were replaced.

  .venv/bin/python scripts/deploy_check.py --stack dev     # exit 0 when everything is there
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
# The example values committed in Pulumi.<stack>.yaml, which must be replaced before a deploy.
PLACEHOLDERS = (
    re.compile(r"^my-mage-[a-z]+$"),
    re.compile(r"@example\.com$"),
    re.compile(r"^your-org/"),
    re.compile(r"^123456789$"),  # mage-gcp:githubRepositoryId
)
PROBE_SECONDS = 20


def _values(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for value in node.values():
            yield from _values(value)
    elif isinstance(node, list):
        for value in node:
            yield from _values(value)
    elif isinstance(node, str):
        yield node


def placeholders(stack_file: Path) -> list[str]:
    """The example values still in a stack config, in file order, once each."""
    config = (yaml.safe_load(stack_file.read_text()) or {}).get("config") or {}
    found: list[str] = []
    for value in _values(config):
        bare = (
            value.split(":", 1)[1] if re.match(r"^(user|group|serviceAccount):", value) else value
        )
        if any(p.search(bare) for p in PLACEHOLDERS) and value not in found:
            found.append(value)
    return found


def adc_file() -> Path | None:
    """Where gcloud's Application Default Credentials are, if anywhere."""
    explicit = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if explicit:
        return Path(explicit) if Path(explicit).is_file() else None
    config = Path(os.environ.get("CLOUDSDK_CONFIG") or Path.home() / ".config" / "gcloud")
    path = config / "application_default_credentials.json"
    return path if path.is_file() else None


def _runs(*command: str) -> bool:
    try:
        done = subprocess.run(command, capture_output=True, timeout=PROBE_SECONDS, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def docker_problem() -> str | None:
    if shutil.which("docker") is None:
        return "Docker is not installed (`pulumi up` builds the image with buildx: install Docker Engine or Desktop)"
    if not _runs("docker", "buildx", "version"):
        return "Docker has no buildx plugin (install docker-buildx-plugin)"
    if not _runs("docker", "info"):
        return "the Docker daemon is not running or not reachable (start Docker, or add yourself to the docker group)"
    return None


def problems(stack: str, stack_file: Path | None = None) -> list[str]:
    """Everything missing for `pulumi up --stack <stack>`, as sentence fragments."""
    found = []
    if shutil.which("pulumi") is None:
        found.append(
            "the Pulumi CLI is not installed (`curl -fsSL https://get.pulumi.com | sh`, "
            "then open a new shell)"
        )
    if shutil.which("uv") is None:
        found.append(
            "uv is not on PATH (`python3 -m pip install uv`; Pulumi.yaml runs the program with uv)"
        )
    if adc_file() is None:
        found.append(
            "there are no Application Default Credentials "
            "(run `gcloud auth application-default login`)"
        )
    if (docker := docker_problem()) is not None:
        found.append(docker)
    stack_file = stack_file or ROOT / f"Pulumi.{stack}.yaml"
    if not stack_file.is_file():
        found.append(f"{stack_file.name} does not exist (copy Pulumi.dev.yaml and edit it)")
    elif values := placeholders(stack_file):
        found.append(
            f"{stack_file.name} still has the example values {', '.join(values)} "
            "(replace them with your project, e-mails, repository and its id)"
        )
    return found


def sentence(stack: str, found: list[str]) -> str:
    listed = found[0] if len(found) == 1 else "; ".join(found[:-1]) + "; and " + found[-1]
    return f"make deploy STACK={stack} cannot start: {listed}. See docs/deploy.md."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="dev", help="the Pulumi stack (default: dev)")
    parser.add_argument(
        "--config", type=Path, help="the stack config file (default: Pulumi.<stack>.yaml)"
    )
    args = parser.parse_args(argv)
    found = problems(args.stack, args.config)
    if found:
        print(sentence(args.stack, found), file=sys.stderr)
        return 1
    print(f"deploy prerequisites for stack {args.stack}: all present.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`make plan-diff`: the offline plan of this checkout against the plan of a base commit.

Both plans come from ``tools.offline`` (the program under Pulumi mocks, no cloud, no
credentials), so every pull request — forks included — can see what it changes: per resource
added, removed, replaced or changed keys, and the stack config keys it changes. Markdown on
stdout (a job summary or a PR comment).

  python -m tools.plan_diff --base origin/main --stack dev
  python -m tools.plan_diff --base-dir ../base --stack dev --set mage-gcp:sqlTier=db-g1-small

"Replaced" is an offline estimate: a change of a key the provider cannot update in place
(``REPLACE_KEYS``: names, ids, locations and every input of an IAM member). The gated cloud
preview (preview.yml) has the provider's own answer.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any

from tools.offline import REPO_ROOT, Plan

# A key whose change makes the provider delete and re-create the resource (ForceNew). For
# every *IAMMember / *IamMember type, all of role, member and condition are ForceNew.
REPLACE_KEYS = frozenset(
    {
        "project",
        "name",
        "location",
        "region",
        "accountId",
        "secretId",
        "datasetId",
        "tableId",
        "repositoryId",
        "workloadIdentityPoolId",
        "workloadIdentityPoolProviderId",
        "bucket",
        "network",
        "service",
        "format",
    }
)
IAM_MEMBER_KEYS = frozenset({"role", "member", "condition"})
# Inputs that may carry a secret value (unwrapped by tools.offline): never printed.
SECRET_MARKERS = ("password", "secretdata", "secret_data", "privatekey", "private_key")
VALUE_WIDTH = 60
BASE_TIMEOUT_S = 300

# Run in the base checkout's directory with its modules first on sys.path: only
# tools.offline.run_program and PlannedResource's fields, so a base without this file works.
_DUMP = """
import json, sys
from tools.offline import run_program
plan = run_program(sys.argv[1], json.loads(sys.argv[2]))
json.dump({"config": plan.config, "resources": [
    {"type": r.type, "name": r.name, "parent": r.parent, "custom": r.custom, "inputs": r.inputs}
    for r in plan.resources]}, sys.stdout)
"""


@dataclass(frozen=True)
class Change:
    """One resource's difference between base and head."""

    kind: str  # added | removed | replaced | changed
    type: str
    name: str
    keys: tuple[tuple[str, Any, Any], ...] = ()  # (dotted path, base value, head value)


@dataclass
class PlanDiff:
    stack: str
    changes: list[Change] = field(default_factory=list)
    config: list[tuple[str, Any, Any]] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[Change]:
        return [c for c in self.changes if c.kind == kind]


def snapshot(plan: Plan) -> dict[str, Any]:
    """The part of a plan the diff reads, as plain data (what ``_DUMP`` prints)."""
    return {
        "config": dict(plan.config),
        "resources": [
            {
                "type": r.type,
                "name": r.name,
                "parent": r.parent,
                "custom": r.custom,
                "inputs": r.inputs,
            }  # fmt: skip
            for r in plan.resources
        ],
    }


def _keyed(resources: list[Mapping[str, Any]]) -> dict[tuple[str, str], Mapping[str, Any]]:
    """Custom resources by (type, logical name); every resource of a repeated pair is told apart
    by its parent (registration order varies from run to run, so never by position)."""
    custom = [r for r in resources if r.get("custom", True)]
    counts = Counter((r["type"], r["name"]) for r in custom)
    out: dict[tuple[str, str], Mapping[str, Any]] = {}
    for r in custom:
        name = r["name"]
        if counts[(r["type"], name)] > 1:
            name = f"{name} (under {r.get('parent', '')})"
        out[(r["type"], name)] = r
    return out


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested inputs as dotted paths (``settings.tier``, ``containers.0.image``) to leaves."""
    if isinstance(value, dict) and value:
        items: Iterator[tuple[str, Any]] = ((str(k), v) for k, v in value.items())
    elif isinstance(value, list) and value:
        items = ((str(i), v) for i, v in enumerate(value))
    else:
        return {prefix: value}
    out: dict[str, Any] = {}
    for key, child in items:
        out |= flatten(child, f"{prefix}.{key}" if prefix else key)
    return out


def changed_keys(base: Mapping[str, Any], head: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    flat_base, flat_head = flatten(dict(base)), flatten(dict(head))
    paths = sorted(set(flat_base) | set(flat_head))
    missing = object()
    out = []
    for path in paths:
        old, new = flat_base.get(path, missing), flat_head.get(path, missing)
        if old != new:
            out.append((path, None if old is missing else old, None if new is missing else new))
    return out


def _replaces(type_: str, keys: list[tuple[str, Any, Any]]) -> bool:
    iam_member = type_.rsplit(":", 1)[-1].lower().endswith("iammember")
    forced = REPLACE_KEYS | (IAM_MEMBER_KEYS if iam_member else frozenset())
    return any(path.split(".", 1)[0] in forced for path, _, _ in keys)


def diff(base: Mapping[str, Any], head: Mapping[str, Any], stack: str = "") -> PlanDiff:
    """Compare two plan snapshots (``snapshot()`` / ``_DUMP`` output)."""
    old, new = _keyed(base["resources"]), _keyed(head["resources"])
    result = PlanDiff(stack=stack)
    for key in sorted(set(old) | set(new)):
        type_, name = key
        if key not in old:
            result.changes.append(Change("added", type_, name))
        elif key not in new:
            result.changes.append(Change("removed", type_, name))
        else:
            keys = changed_keys(old[key].get("inputs", {}), new[key].get("inputs", {}))
            if keys:
                kind = "replaced" if _replaces(type_, keys) else "changed"
                result.changes.append(Change(kind, type_, name, tuple(keys)))
    result.config = changed_keys(base.get("config", {}), head.get("config", {}))
    return result


def _is_secret(path: str) -> bool:
    lowered = path.lower()
    return any(marker in lowered for marker in SECRET_MARKERS)


def _cell(path: str, value: Any) -> str:
    if value is None:
        return "—"
    if _is_secret(path):
        return "(secret)"
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # protobuf Struct carries every number as a double
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    if len(text) > VALUE_WIDTH:
        text = text[: VALUE_WIDTH // 2 - 1] + "…" + text[-(VALUE_WIDTH // 2 - 1) :]
    return "`" + text.replace("`", "'").replace("|", "\\|").replace("\n", " ") + "`"


def short_type(type_: str) -> str:
    """gcp:sql/databaseInstance:DatabaseInstance -> sql.DatabaseInstance."""
    package, module, name = type_.split(":")
    module = module.split("/")[0]
    return f"{package if module == 'index' else module}.{name}"


SYMBOLS = {"added": "+", "removed": "−", "replaced": "±", "changed": "~"}


def render(result: PlanDiff, title: str = "") -> str:
    """Markdown: a one-line count, changed config keys, then one row per changed key."""
    counts = {kind: len(result.of_kind(kind)) for kind in SYMBOLS}
    lines = [f"### {title or 'Offline plan diff'} — stack `{result.stack}`", ""]
    if not result.changes and not result.config:
        lines.append("No change to the planned resources or the stack config.")
        return "\n".join(lines) + "\n"
    lines.append(", ".join(f"{n} {kind}" for kind, n in counts.items()) + ".")
    if result.config:
        lines += ["", "| config key | base | head |", "|---|---|---|"]
        lines += [f"| `{k}` | {_cell(k, a)} | {_cell(k, b)} |" for k, a, b in result.config]
    lines += ["", "| | resource | type | key | base | head |", "|---|---|---|---|---|---|"]
    for c in result.changes:
        head = f"| {SYMBOLS[c.kind]} {c.kind} | `{c.name}` | {short_type(c.type)} |"
        if not c.keys:
            lines.append(f"{head} | | |")
        for path, old, new in c.keys:
            lines.append(f"{head} `{path}` | {_cell(path, old)} | {_cell(path, new)} |")
    lines += ["", "_Offline (Pulumi mocks, no cloud calls); “replaced” is an estimate._"]
    return "\n".join(lines) + "\n"


def plan_in(directory: Path, stack: str, overrides: Mapping[str, str]) -> dict[str, Any]:
    """The offline plan of the checkout in ``directory``, in a child Python process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "GOOGLE_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(directory), str(directory / "scripts")])
    try:
        result = subprocess.run(
            [sys.executable, "-c", _DUMP, stack, json.dumps(dict(overrides))],
            cwd=directory,
            env=env,
            capture_output=True,
            text=True,
            timeout=BASE_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        raise PlanDiffError(
            f"the plan of {directory} took more than {BASE_TIMEOUT_S} s; run "
            f"`make plan` there to see why"
        ) from None
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise PlanDiffError(f"the plan of {directory} failed ({last}); run `make plan` there")
    return _relative(json.loads(result.stdout), str(directory))


def _relative(value: Any, root: str) -> Any:
    """Paths inside the checkout as ``<checkout>/...``, so two checkouts compare equal."""
    if isinstance(value, str):
        return value.replace(root, "<checkout>")
    if isinstance(value, dict):
        return {k: _relative(v, root) for k, v in value.items()}
    if isinstance(value, list):
        return [_relative(v, root) for v in value]
    return value


def export_commit(ref: str, into: Path) -> Path:
    """The tree of ``ref`` (a commit of this repository) extracted into ``into``."""
    try:
        archive = subprocess.run(
            ["git", "archive", "--format=tar", ref],
            cwd=REPO_ROOT,
            capture_output=True,
            check=True,
            timeout=120,
        ).stdout
    except subprocess.CalledProcessError as exc:
        raise PlanDiffError(
            f"git cannot read {ref!r} ({exc.stderr.decode().strip()}); fetch it first, e.g. "
            f"`git fetch origin {ref}`"
        ) from None
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


class PlanDiffError(RuntimeError):
    """A base or head plan that could not be made (one sentence for people)."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--base", help="base commit or ref of this repository, e.g. origin/main")
    where.add_argument("--base-dir", type=Path, help="a checkout of the base, already on disk")
    parser.add_argument("--stack", default="dev", help="committed stack config (default dev)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value in the head plan only, e.g. mage-gcp:sqlTier=db-g1-small",
    )
    parser.add_argument("--title", default="", help="heading of the markdown")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    overrides = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or ":" not in key:
            print(f"--set {item!r} is not KEY=VALUE with a namespaced key.", file=sys.stderr)
            return 2
        overrides[key] = value
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="plan-diff-base-") as tmp:
            base_dir = args.base_dir or export_commit(args.base, Path(tmp))
            base = plan_in(base_dir.resolve(), args.stack, {})
        head = plan_in(REPO_ROOT, args.stack, overrides)
    except PlanDiffError as exc:
        print(f"plan diff: {exc}.", file=sys.stderr)
        return 2
    print(render(diff(base, head, args.stack), args.title), end="")
    print(f"\n<sub>Both plans in {time.monotonic() - started:.1f} s.</sub>")
    return 0


if __name__ == "__main__":
    sys.exit(main())

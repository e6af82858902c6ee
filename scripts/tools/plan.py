"""`make plan`: the offline `pulumi preview` — run infra/ under Pulumi mocks with a committed
stack config and print the planned resources (type, name, key settings). No cloud access."""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from typing import Any

from rich.console import Console, Group
from rich.padding import Padding
from rich.table import Table
from rich.text import Text
from twin.console import wide_console

from infra.config import ConfigError
from tools.offline import Plan, PlannedResource, run_program

# Per resource type: (label, path) pairs worth seeing in a review.
KEY_SETTINGS: dict[str, list[tuple[str, tuple]]] = {
    "gcp:sql/databaseInstance:DatabaseInstance": [
        ("version", ("databaseVersion",)),
        ("tier", ("settings", "tier")),
        ("disk", ("settings", "diskSize")),
        ("availability", ("settings", "availabilityType")),
        ("public ip", ("settings", "ipConfiguration", "ipv4Enabled")),
        ("ssl", ("settings", "ipConfiguration", "sslMode")),
        ("backups", ("settings", "backupConfiguration", "enabled")),
        ("pitr", ("settings", "backupConfiguration", "pointInTimeRecoveryEnabled")),
        ("deletion protection", ("deletionProtection",)),
    ],
    "gcp:cloudrunv2/service:Service": [
        ("name", ("name",)),
        ("min", ("template", "scaling", "minInstanceCount")),
        ("max", ("template", "scaling", "maxInstanceCount")),
        ("cpu", ("template", "containers", 0, "resources", "limits", "cpu")),
        ("memory", ("template", "containers", 0, "resources", "limits", "memory")),
        ("cpu idle", ("template", "containers", 0, "resources", "cpuIdle")),
        ("iap", ("iapEnabled",)),
        ("egress", ("template", "vpcAccess", "egress")),
        ("image", ("template", "containers", 0, "image")),
    ],
    "gcp:cloudrunv2/job:Job": [
        ("name", ("name",)),
        ("args", ("template", "template", "containers", 0, "args")),
        ("cpu", ("template", "template", "containers", 0, "resources", "limits", "cpu")),
        ("memory", ("template", "template", "containers", 0, "resources", "limits", "memory")),
        ("timeout", ("template", "template", "timeout")),
    ],
    "gcp:cloudscheduler/job:Job": [
        ("name", ("name",)),
        ("schedule", ("schedule",)),
        ("tz", ("timeZone",)),
        ("as", ("httpTarget", "oauthToken", "serviceAccountEmail")),
    ],
    "gcp:storage/bucket:Bucket": [
        ("name", ("name",)),
        ("location", ("location",)),
        ("uniform", ("uniformBucketLevelAccess",)),
        ("public access", ("publicAccessPrevention",)),
        ("versioning", ("versioning", "enabled")),
    ],
    "gcp:bigquery/dataset:Dataset": [("id", ("datasetId",)), ("location", ("location",))],
    "gcp:bigquery/table:Table": [
        ("id", ("tableId",)),
        ("partition", ("timePartitioning", "type")),
        ("on", ("timePartitioning", "field")),
        ("cluster", ("clusterings",)),
        ("protected", ("deletionProtection",)),
    ],
    "gcp:serviceaccount/account:Account": [("id", ("accountId",))],
    "gcp:secretmanager/secret:Secret": [("id", ("secretId",))],
    "gcp:artifactregistry/repository:Repository": [
        ("id", ("repositoryId",)),
        ("format", ("format",)),
    ],
    "docker-build:index:Image": [("tags", ("tags",)), ("push", ("push",))],
    "gcp:projects/service:Service": [("api", ("service",))],
    "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider": [
        ("condition", ("attributeCondition",))
    ],
    "gcp:compute/subnetwork:Subnetwork": [("cidr", ("ipCidrRange",))],
    "gcp:sql/database:Database": [("name", ("name",))],
    "gcp:sql/user:User": [("name", ("name",))],
    "gcp:logging/metric:Metric": [("name", ("name",))],
    "gcp:monitoring/notificationChannel:NotificationChannel": [("type", ("type",))],
}
GRANT_KEYS = ("role", "member", "members")


def key_settings(r: PlannedResource) -> str:
    """A one-line summary of what matters about a resource."""
    pairs = [(label, r.get(*path)) for label, path in KEY_SETTINGS.get(r.type, [])]
    if not pairs and any(k in r.inputs for k in GRANT_KEYS):
        pairs = [(k, r.inputs[k]) for k in GRANT_KEYS if k in r.inputs]
    return "  ".join(f"{label}={_short(value)}" for label, value in pairs if value is not None)


def _short(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(_short(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # protobuf Struct carries every number as a double
    text = str(value)
    if "@sha256:" in text:  # an image pinned by digest: repository name and digest prefix
        image, digest = text.split("@sha256:", 1)
        return f"…/{image.rsplit('/', 1)[-1]}@sha256:{digest[:12]}…"
    return text if len(text) <= 60 else text[:28] + "…" + text[-28:]


def short_type(type_: str) -> str:
    """gcp:sql/databaseInstance:DatabaseInstance -> sql.DatabaseInstance."""
    package, module, name = type_.split(":")
    module = module.split("/")[0]
    return f"{package if module == 'index' else module}.{name}"


def _owner(parent_urn: str) -> tuple[str, str]:
    """(type, name) of the component a parent URN points at."""
    _, _, qualified_type, name = parent_urn.split("::", 3)
    return qualified_type.rsplit("$", 1)[-1], name


def grouped(plan: Plan) -> list[tuple[PlannedResource, list[PlannedResource]]]:
    """Components by name, each with its resources sorted by type and name.

    Resources register concurrently, so their arrival order varies from run to run; sorting
    makes the table stable enough to diff.
    """
    components = sorted((r for r in plan.resources if not r.custom), key=lambda r: r.name)
    children: dict[tuple[str, str], list[PlannedResource]] = {
        (c.type, c.name): [] for c in components
    }
    for r in plan.resources:
        if r.custom:
            children.setdefault(_owner(r.parent), []).append(r)
    return [
        (c, sorted(children[(c.type, c.name)], key=lambda r: (short_type(r.type), r.name)))
        for c in components
    ]


WIDE_LAYOUT_COLUMNS = 130  # type, name and settings side by side need about this many


def _narrow_row(type_: str, name: str, settings: str) -> Group:
    """Type and name on one line, the key settings indented below, wrapping at the width."""
    indent = len(type_) - len(type_.lstrip())
    head = Text.from_markup(f"{type_}  [bold]{name}[/]", style="cyan")
    if not settings:
        return Group(head)
    return Group(head, Padding(Text.from_markup(settings), (0, 0, 0, indent + 4)))


def render(plan: Plan, show_grants: bool = True, width: int = 200) -> Table:
    """The planned resources by component: a type | name | key settings table when the console
    is wide enough, else each resource's settings on the lines below it (readable at 80)."""
    custom = sum(r.custom for r in plan.resources)
    table = Table(title=f"Planned resources — stack {plan.stack} ({custom} resources)")
    wide = width >= WIDE_LAYOUT_COLUMNS
    if wide:
        table.add_column("type", style="cyan", no_wrap=True)
        table.add_column("name", style="bold", no_wrap=True)
        table.add_column("key settings", overflow="fold")
    else:
        table.add_column("type  name\n    key settings", overflow="fold")
    for component, members in grouped(plan):
        table.add_section()
        if wide:
            table.add_row(f"[magenta]{component.type}[/]", component.name, "[magenta]component[/]")
        else:
            table.add_row(_narrow_row(f"[magenta]{component.type}[/]", component.name, ""))
        for r in members:
            if not show_grants and any(k in r.inputs for k in GRANT_KEYS):
                continue
            cells = ("  " + short_type(r.type), r.name, key_settings(r))
            if wide:
                table.add_row(*cells)
            else:
                table.add_row(_narrow_row(*cells))
    return table


def outputs_table(plan: Plan) -> Table:
    table = Table(title="Stack outputs (mock values)")
    table.add_column("output", style="cyan")
    table.add_column("value", overflow="fold")
    for key, value in plan.outputs.items():
        table.add_row(key, str(value))
    return table


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stack", default="dev", help="committed stack config (Pulumi.<stack>.yaml)"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value for this run, e.g. --set mage-gcp:sqlTier=db-g1-small",
    )


def make_console(stderr: bool = False) -> Console:
    """A terminal-width console, or a wide one when output is piped (so rows stay on one line)."""
    return wide_console(stderr=stderr, width=int(os.environ.get("COLUMNS") or 200))


class UsageError(ValueError):
    """A command-line value the plan cannot be run with."""


def load_plan(args: argparse.Namespace) -> Plan:
    """Run the program offline for ``--stack`` with ``--set`` overrides; UsageError if refused."""
    overrides = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or ":" not in key:
            raise UsageError(f"--set {item!r} is not KEY=VALUE with a namespaced key.")
        overrides[key] = value
    try:
        return run_program(args.stack, overrides)
    except (ConfigError, FileNotFoundError) as exc:
        raise UsageError(str(exc)) from None


def plan_from_cli(
    parser: argparse.ArgumentParser, argv: list[str] | None
) -> tuple[argparse.Namespace, Plan | None]:
    """Parse the stack arguments and plan it; ``None`` (sentence printed) on a usage error."""
    add_stack_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return args, load_plan(args)
    except UsageError as exc:
        make_console(stderr=True).print(str(exc), style="red", markup=False, highlight=False)
        return args, None


def summary(plan: Plan) -> str:
    """One line: how many resources of how many types in how many components."""
    counts = Counter(r.type for r in plan.resources if r.custom)
    return (
        f"{sum(counts.values())} resources of {len(counts)} types in "
        f"{sum(not r.custom for r in plan.resources)} components; no cloud calls were made."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-grants", action="store_true", help="hide IAM grant rows")
    args, plan = plan_from_cli(parser, argv)
    if plan is None:
        return 2
    console = make_console()
    console.print(render(plan, show_grants=not args.no_grants, width=console.width))
    console.print(outputs_table(plan))
    console.print(summary(plan))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Run the Pulumi program offline under ``pulumi.runtime.set_mocks`` and collect the plan.

Used by tests/infra, `make plan` (tools.plan) and `make cost` (tools.cost) — a CLI-free
``pulumi preview``: every registered resource (type, name, inputs, parent) plus the stack outputs.
Only Pulumi's public testing API: ``set_mocks`` with a ``MockMonitor`` of our own, and
``pulumi.runtime.test``, which runs the program and waits for every registration
(https://pulumi.com/docs/iac/concepts/testing/unit).
"""

from __future__ import annotations

import base64
import contextlib
import contextvars
import hashlib
import json
import runpy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi
import yaml
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc

from mage_project.utils.image_contract import REPO_ROOT

PROGRAM = REPO_ROOT / "infra" / "__main__.py"
PROJECT = "mage-gcp"
FAKE_PROJECT_NUMBER = "123456789012"


@dataclass(frozen=True)
class PlannedResource:
    """One resource the program registers: type token, logical name, inputs (wire names)."""

    type: str
    name: str
    inputs: dict[str, Any] = field(default_factory=dict)
    parent: str = ""
    custom: bool = True
    # URNs of explicit dependencies (``depends_on``) and the ``ignore_changes`` property paths.
    dependencies: tuple[str, ...] = ()
    ignore_changes: tuple[str, ...] = ()
    #: ``retain_on_delete``: `pulumi destroy` leaves the cloud resource in place.
    retain_on_delete: bool = False

    def get(self, *path: str | int, default: Any = None) -> Any:
        """Nested lookup: ``r.get("settings", "ipConfiguration", "ipv4Enabled")``."""
        return dig(self.inputs, *path, default=default)


def dig(value: Any, *path: str | int, default: Any = None) -> Any:
    for step in path:
        in_list = (
            isinstance(step, int) and isinstance(value, list) and -len(value) <= step < len(value)
        )
        in_dict = isinstance(value, dict) and step in value
        if not (in_list or in_dict):
            return default
        value = value[step]
    return value


def fake_digest(name: str) -> str:
    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()


def _fake_outputs(args: pulumi_mocks.MockResourceArgs) -> dict[str, Any]:
    """Provider-computed outputs the program reads, with deterministic fake values."""
    i = args.inputs
    project = i.get("project", "mock-project")
    t = args.typ
    if t == "gcp:serviceaccount/account:Account":
        email = f"{i['accountId']}@{project}.iam.gserviceaccount.com"
        return {
            "email": email,
            "member": f"serviceAccount:{email}",
            "name": f"projects/{project}/serviceAccounts/{email}",
        }
    if t == "gcp:projects/serviceIdentity:ServiceIdentity":
        api = i["service"].split(".")[0]
        email = f"service-{FAKE_PROJECT_NUMBER}@gcp-sa-{api}.iam.gserviceaccount.com"
        return {"email": email, "member": f"serviceAccount:{email}"}
    if t == "gcp:sql/databaseInstance:DatabaseInstance":
        name = i.get("name", args.name)
        return {
            "name": name,
            "connectionName": f"{project}:{i.get('region')}:{name}",
            "privateIpAddress": "10.20.0.3",
        }
    if t == "gcp:cloudrunv2/service:Service":
        return {"uri": f"https://{i.get('name')}-{FAKE_PROJECT_NUMBER}.{i.get('location')}.run.app"}
    if t == "docker-build:index:Image":
        return {"digest": fake_digest(args.name), "ref": f"{i['tags'][0]}@{fake_digest(args.name)}"}
    if t == "gcp:secretmanager/secretVersion:SecretVersion":
        # Secret Manager numbers a secret's versions from 1; the stack creates one of each.
        return {"version": "1", "name": f"{i.get('secret')}/versions/1"}
    if t == "random:index/randomPassword:RandomPassword":
        return {"result": f"mock-password-{args.name}"}
    if t == "random:index/randomBytes:RandomBytes":
        raw = hashlib.sha256(args.name.encode()).digest()[: int(i.get("length", 32))]
        return {"base64": base64.b64encode(raw).decode(), "hex": raw.hex()}
    if t == "gcp:iam/workloadIdentityPool:WorkloadIdentityPool":
        pool = i["workloadIdentityPoolId"]
        return {
            "name": f"projects/{FAKE_PROJECT_NUMBER}/locations/global/workloadIdentityPools/{pool}"
        }
    if t == "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider":
        return {
            "name": f"projects/{FAKE_PROJECT_NUMBER}/locations/global/workloadIdentityPools/"
            f"{i['workloadIdentityPoolId']}/providers/{i['workloadIdentityPoolProviderId']}"
        }
    return {}


class RecordingMocks(pulumi_mocks.Mocks):
    """Echo inputs back as state (plus fake computed outputs) and record nothing else."""

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict]:
        state = dict(args.inputs) | _fake_outputs(args)
        return f"{args.name}-id", state

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict, list]:
        if args.token == "gcp:organizations/getClientConfig:getClientConfig":
            return {"accessToken": "mock-access-token", "id": "mock", "project": "mock"}, []
        return {}, []


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """MockMonitor that also keeps each registration's type, name, inputs and parent."""

    def __init__(self, mocks: pulumi_mocks.Mocks):
        super().__init__(mocks)
        self.registrations: list[PlannedResource] = []

    def RegisterResource(self, request):  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            inputs = _plain(rpc.deserialize_properties(request.object, keep_unknowns=True))
            self.registrations.append(
                PlannedResource(
                    type=request.type,
                    name=request.name,
                    inputs=inputs,
                    parent=request.parent,
                    custom=bool(request.custom),
                    dependencies=tuple(request.dependencies),
                    ignore_changes=tuple(request.ignoreChanges),
                    retain_on_delete=bool(request.retainOnDelete),
                )
            )
        return response


def _plain(value: Any) -> Any:
    """Secrets are unwrapped; resource references and unknowns become strings."""
    if rpc.is_rpc_secret(value):
        return _plain(rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return f"<{type(value).__name__}>"


@dataclass
class Plan:
    """The result of one offline run: resources in registration order and stack outputs."""

    stack: str
    config: dict[str, str]
    resources: list[PlannedResource]
    outputs: dict[str, Any] = field(default_factory=dict)

    def of_type(self, *types: str) -> list[PlannedResource]:
        return [r for r in self.resources if r.type in types]

    def one(self, type_: str) -> PlannedResource:
        found = self.of_type(type_)
        if len(found) != 1:
            raise AssertionError(f"expected one {type_}, planned {len(found)}")
        return found[0]


def stack_config(stack: str, overrides: dict[str, Any] | None = None) -> dict[str, str]:
    """The committed ``Pulumi.<stack>.yaml`` config as the CLI passes it (values as strings)."""
    path = REPO_ROOT / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path.name} not found: use one of the committed stacks "
            f"({', '.join(p.stem.split('.', 1)[1] for p in sorted(REPO_ROOT.glob('Pulumi.*.yaml')))})."
        )
    raw = (yaml.safe_load(path.read_text()) or {}).get("config", {}) or {}
    raw = {**raw, **(overrides or {})}
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in raw.items() if v is not None}


def run_program(stack: str = "dev", overrides: dict[str, Any] | None = None) -> Plan:
    """Run infra/__main__.py under mocks with the stack's config (plus overrides)."""
    config = stack_config(stack, overrides)
    return contextvars.Context().run(_run_isolated, stack, config)


def _run_isolated(stack: str, config: dict[str, str]) -> Plan:
    """In a fresh context (no root resource yet): the program under mocks, then its outputs."""
    pulumi.runtime.set_all_config(config, [])
    monitor = RecordingMonitor(RecordingMocks())
    pulumi.runtime.set_mocks(
        RecordingMocks(), project=PROJECT, stack=stack, preview=False, monitor=monitor
    )
    outputs: dict[str, Any] = {}

    def program() -> pulumi.Output[Any]:
        runpy.run_path(str(PROGRAM), run_name="__main__")
        root = pulumi.runtime.get_root_resource()
        exported = dict(getattr(root, "outputs", {}) or {})
        return pulumi.Output.from_input(exported).apply(outputs.update)

    run: Callable[[], None] = pulumi.runtime.test(program)
    # Pulumi runs a program whose `main` is a folder from that folder (its working directory), so
    # paths the program makes relative to it (the image's build context) come out as they would.
    with contextlib.chdir(PROGRAM.parent):
        run()
    return Plan(stack=stack, config=config, resources=list(monitor.registrations), outputs=outputs)

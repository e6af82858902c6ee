"""The Google APIs the stack needs, enabled once and never disabled on destroy, and the waits
that let a new project's first `pulumi up` converge without a second try.

Enabling an API and granting a role are eventually consistent: a call right after may be
refused (https://cloud.google.com/service-usage/docs/enable-disable; IAM changes take
"typically 2 minutes, potentially 7 minutes or longer":
https://cloud.google.com/iam/docs/access-change-propagation), and Cloud Run checks a revision's
access to its secrets when it creates it. :class:`Propagation` waits after them, as the Pulumi
``time`` provider's ``Sleep`` would (that provider is not in uv.lock): a Python dynamic resource
that sleeps when it is created or its triggers change, and never on a retried or unchanged `up`.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi.dynamic as dynamic
import pulumi_gcp as gcp

from infra.components.base import Component

REQUIRED_APIS = (
    "artifactregistry.googleapis.com",
    "bigquery.googleapis.com",
    "cloudscheduler.googleapis.com",
    "compute.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "servicenetworking.googleapis.com",
    "sqladmin.googleapis.com",
    "storage.googleapis.com",
    "sts.googleapis.com",
)


#: Seconds to wait after enabling the APIs, and after the grants the containers need.
API_PROPAGATION_SECONDS = 60
IAM_PROPAGATION_SECONDS = 120


class _SleepProvider(dynamic.ResourceProvider):
    """Sleeps on create (and on replacement when ``triggers`` change); nothing to delete."""

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        time.sleep(float(props["seconds"]))
        digest = hashlib.sha256(json.dumps(props, sort_keys=True).encode()).hexdigest()[:16]
        return dynamic.CreateResult(id_=f"waited-{digest}", outs=props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        # Only what the wait is about: the serialized provider itself may differ between
        # Python versions, which must not re-run a wait.
        changed = [k for k in ("seconds", "triggers") if olds.get(k) != news.get(k)]
        return dynamic.DiffResult(changes=bool(changed), replaces=changed)

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None


class Propagation(dynamic.Resource):
    """A wait of ``seconds`` after ``depends_on`` are created; it waits again when ``triggers``
    (e.g. the grants' ids) change. Resources that need the propagated state depend on it."""

    def __init__(
        self,
        name: str,
        seconds: int,
        triggers: list[pulumi.Input[str]],
        opts: pulumi.ResourceOptions,
    ) -> None:
        super().__init__(_SleepProvider(), name, {"seconds": seconds, "triggers": triggers}, opts)


@dataclass
class ApisArgs:
    project: str
    with_iap: bool


class Apis(Component, area="apis"):
    """Enables every API the other components use; depend on it before creating anything."""

    def build(self, name: str, args: ApisArgs) -> dict:
        apis = REQUIRED_APIS + (("iap.googleapis.com",) if args.with_iap else ())
        self.services = [
            self.own(
                gcp.projects.Service,
                api.split(".")[0],
                service=api,
                disable_on_destroy=False,
            )
            for api in apis
        ]
        self.propagated = Propagation(
            f"{name}-propagated",
            API_PROPAGATION_SECONDS,
            [s.service for s in self.services],
            pulumi.ResourceOptions(parent=self, depends_on=self.services),
        )
        return {"services": [s.service for s in self.services]}

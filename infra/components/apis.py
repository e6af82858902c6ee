"""The Google APIs the stack needs, enabled once and never disabled on destroy."""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass
class ApisArgs:
    project: str
    with_iap: bool = False


class Apis(Component, area="apis"):
    """Enables every API the other components use; depend on it before creating anything."""

    def build(self, name: str, args: ApisArgs) -> dict:
        apis = REQUIRED_APIS + (("iap.googleapis.com",) if args.with_iap else ())
        self.services = [
            gcp.projects.Service(
                f"{name}-{api.split('.')[0]}",
                project=args.project,
                service=api,
                disable_on_destroy=False,
                opts=self.child,
            )
            for api in apis
        ]
        return {"services": [s.service for s in self.services]}

"""Service accounts and least-privilege grants: a runtime SA for the service and jobs, and a
scheduler SA (its run.invoker grant sits on each job, in scheduled_runs)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from infra.components.apis import IAM_PROPAGATION_SECONDS, Propagation
from infra.components.base import Component
from infra.components.secrets import secret_reader

RUNTIME_PROJECT_ROLES = ("roles/bigquery.jobUser", "roles/cloudsql.client")
#: On the state bucket: objects (logs, block outputs, the project volume) and storage.buckets.get,
#: which Mage's GCS logger calls (``client.get_bucket``) and objectAdmin lacks
#: (https://cloud.google.com/storage/docs/access-control/iam-roles).
STATE_BUCKET_ROLES = ("roles/storage.objectAdmin", "roles/storage.legacyBucketReader")


def service_account(
    opts: pulumi.ResourceOptions, component: str, project: str, prefix: str, who: str, display: str
) -> gcp.serviceaccount.Account:
    """The ``<prefix>-<who>`` service account, logical name ``<component>-<who>``."""
    return gcp.serviceaccount.Account(
        f"{component}-{who}",
        project=project,
        account_id=f"{prefix}-{who}",
        display_name=display,
        opts=opts,
    )


def project_roles(
    opts: pulumi.ResourceOptions,
    name: str,
    project: str,
    member: pulumi.Input[str],
    roles: tuple[str, ...],
) -> list[gcp.projects.IAMMember]:
    """One project-level grant per role, named ``<name>-<role, dashed>``."""
    return [
        gcp.projects.IAMMember(
            f"{name}-{role.split('/')[1].replace('.', '-')}",
            project=project,
            role=role,
            member=member,
            opts=opts,
        )
        for role in roles
    ]


@dataclass
class IdentityArgs:
    project: str
    prefix: str
    bucket_name: pulumi.Input[str]
    dataset_id: pulumi.Input[str]
    #: The hosted Mage's state bucket (logs, block outputs, dev project volume), if any.
    state_bucket_name: pulumi.Input[str] | None = None
    secret_ids: dict[str, pulumi.Input[str]] = field(default_factory=dict)


class Identity(Component, area="identity"):
    """No basic roles, no keys: data access is granted on the bucket and dataset themselves."""

    def build(self, name: str, args: IdentityArgs) -> dict:
        account = functools.partial(service_account, self.child, name, args.project, args.prefix)
        self.runtime = account("runtime", "Mage runtime (Cloud Run service and jobs)")
        self.scheduler = account(
            "scheduler", "Cloud Scheduler: may start the Mage pipeline jobs only"
        )
        runtime_member = self.runtime.email.apply(lambda e: f"serviceAccount:{e}")
        self.runtime_member = runtime_member
        self.project_grants = project_roles(
            self.child, f"{name}-runtime", args.project, runtime_member, RUNTIME_PROJECT_ROLES
        )

        def on_bucket(what: str, bucket: pulumi.Input[str], role: str) -> pulumi.Resource:
            """The runtime's ``role`` on one bucket, logical name ``<name>-runtime-<what>``."""
            return gcp.storage.BucketIAMMember(
                f"{name}-runtime-{what}",
                bucket=bucket,
                role=role,
                member=runtime_member,
                opts=self.child,
            )

        self.bucket_grant = on_bucket("lake", args.bucket_name, "roles/storage.objectAdmin")
        self.state_grants = [
            on_bucket(f"state-{role.split('.')[-1]}", args.state_bucket_name, role)
            for role in (STATE_BUCKET_ROLES if args.state_bucket_name is not None else ())
        ]
        self.dataset_grant = gcp.bigquery.DatasetIamMember(
            f"{name}-runtime-dataset",
            project=args.project,
            dataset_id=args.dataset_id,
            role="roles/bigquery.dataEditor",
            member=runtime_member,
            opts=self.child,
        )
        self.secret_grants = [
            secret_reader(
                f"{name}-runtime-secret-{key}", args.project, secret_id, runtime_member, self.child
            )
            for key, secret_id in args.secret_ids.items()
        ]
        grants = [
            *self.project_grants,
            self.bucket_grant,
            *self.state_grants,
            self.dataset_grant,
            *self.secret_grants,
        ]
        # Cloud Run checks the runtime account's secret access when it creates a revision, and
        # the containers use the rest at once: wait for the grants to propagate.
        self.propagated = Propagation(
            f"{name}-runtime-grants-propagated",
            IAM_PROPAGATION_SECONDS,
            [g.id for g in grants],
            pulumi.ResourceOptions(parent=self, depends_on=grants),
        )
        return {"runtime_email": self.runtime.email, "scheduler_email": self.scheduler.email}

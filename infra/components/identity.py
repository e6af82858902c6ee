"""Service accounts and least-privilege grants: a runtime SA for the service and jobs, and a
scheduler SA (its run.invoker grant sits on each job, in scheduled_runs)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

RUNTIME_PROJECT_ROLES = ("roles/bigquery.jobUser", "roles/cloudsql.client")
#: On the state bucket: objects (logs, block outputs, the project volume) and storage.buckets.get,
#: which Mage's GCS logger calls (``client.get_bucket``) and objectAdmin lacks
#: (https://cloud.google.com/storage/docs/access-control/iam-roles).
STATE_BUCKET_ROLES = ("roles/storage.objectAdmin", "roles/storage.legacyBucketReader")


@dataclass
class IdentityArgs:
    project: str
    prefix: str
    bucket_name: pulumi.Input[str]
    dataset_id: pulumi.Input[str]
    #: The hosted Mage's state bucket (logs, block outputs, dev project volume), if any.
    state_bucket_name: pulumi.Input[str] | None = None
    secret_ids: dict[str, pulumi.Input[str]] = field(default_factory=dict)


class Identity(pulumi.ComponentResource):
    """No basic roles, no keys: data access is granted on the bucket and dataset themselves."""

    def __init__(self, name: str, args: IdentityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mage-gcp:identity:Identity", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.runtime = gcp.serviceaccount.Account(
            f"{name}-runtime",
            project=args.project,
            account_id=f"{args.prefix}-runtime",
            display_name="Mage runtime (Cloud Run service and jobs)",
            opts=child,
        )
        self.scheduler = gcp.serviceaccount.Account(
            f"{name}-scheduler",
            project=args.project,
            account_id=f"{args.prefix}-scheduler",
            display_name="Cloud Scheduler: may start the Mage pipeline jobs only",
            opts=child,
        )
        runtime_member = self.runtime.email.apply(lambda e: f"serviceAccount:{e}")
        self.runtime_member = runtime_member
        self.project_grants = [
            gcp.projects.IAMMember(
                f"{name}-runtime-{role.split('/')[1].replace('.', '-')}",
                project=args.project,
                role=role,
                member=runtime_member,
                opts=child,
            )
            for role in RUNTIME_PROJECT_ROLES
        ]
        self.bucket_grant = gcp.storage.BucketIAMMember(
            f"{name}-runtime-lake",
            bucket=args.bucket_name,
            role="roles/storage.objectAdmin",
            member=runtime_member,
            opts=child,
        )
        self.state_grants = [
            gcp.storage.BucketIAMMember(
                f"{name}-runtime-state-{role.split('.')[-1]}",
                bucket=args.state_bucket_name,
                role=role,
                member=runtime_member,
                opts=child,
            )
            for role in (STATE_BUCKET_ROLES if args.state_bucket_name is not None else ())
        ]
        self.dataset_grant = gcp.bigquery.DatasetIamMember(
            f"{name}-runtime-dataset",
            project=args.project,
            dataset_id=args.dataset_id,
            role="roles/bigquery.dataEditor",
            member=runtime_member,
            opts=child,
        )
        self.secret_grants = [
            gcp.secretmanager.SecretIamMember(
                f"{name}-runtime-secret-{key}",
                project=args.project,
                secret_id=secret_id,
                role="roles/secretmanager.secretAccessor",
                member=runtime_member,
                opts=child,
            )
            for key, secret_id in args.secret_ids.items()
        ]
        self.register_outputs(
            {"runtime_email": self.runtime.email, "scheduler_email": self.scheduler.email}
        )

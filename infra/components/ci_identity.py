"""Workload Identity Federation for GitHub Actions: a deployer service account that only
workflows of the configured repository can impersonate. No JSON keys."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.components.base import Component
from infra.components.identity import project_roles, service_account

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"

# What `pulumi preview/up` of this stack needs; predefined roles only, never editor/owner.
DEPLOYER_ROLES = (
    "roles/artifactregistry.admin",
    "roles/bigquery.admin",
    "roles/cloudscheduler.admin",
    "roles/cloudsql.admin",
    "roles/compute.networkAdmin",
    "roles/iam.serviceAccountAdmin",
    "roles/iam.serviceAccountUser",
    "roles/iam.workloadIdentityPoolAdmin",
    "roles/iap.admin",
    "roles/logging.configWriter",
    "roles/monitoring.alertPolicyEditor",
    "roles/monitoring.notificationChannelEditor",
    "roles/resourcemanager.projectIamAdmin",
    "roles/run.admin",
    "roles/secretmanager.admin",
    "roles/servicenetworking.networksAdmin",
    "roles/serviceusage.serviceUsageAdmin",
    "roles/storage.admin",
)


@dataclass
class CiIdentityArgs:
    project: str
    prefix: str
    github_repository: str


def attribute_condition(repository: str) -> str:
    """CEL condition: only tokens issued for this exact repository are accepted."""
    return f"assertion.repository == '{repository}'"


class CiIdentity(Component, area="ci_identity"):
    """Pool + GitHub OIDC provider + deployer SA impersonable by the repository only."""

    def build(self, name: str, args: CiIdentityArgs) -> dict:
        self.pool = gcp.iam.WorkloadIdentityPool(
            f"{name}-pool",
            project=args.project,
            workload_identity_pool_id=f"{args.prefix}-github",
            display_name="GitHub Actions",
            opts=self.child,
        )
        self.provider = gcp.iam.WorkloadIdentityPoolProvider(
            f"{name}-provider",
            project=args.project,
            workload_identity_pool_id=self.pool.workload_identity_pool_id,
            workload_identity_pool_provider_id="github",
            display_name="GitHub OIDC",
            attribute_mapping={
                "google.subject": "assertion.sub",
                "attribute.repository": "assertion.repository",
                "attribute.ref": "assertion.ref",
                "attribute.actor": "assertion.actor",
            },
            attribute_condition=attribute_condition(args.github_repository),
            oidc={"issuer_uri": GITHUB_ISSUER},
            opts=self.child,
        )
        self.deployer = service_account(
            self.child,
            name,
            args.project,
            args.prefix,
            "deployer",
            f"CI deployer for {args.github_repository}",
        )
        self.impersonation = gcp.serviceaccount.IAMMember(
            f"{name}-deployer-wif",
            service_account_id=self.deployer.name,
            role="roles/iam.workloadIdentityUser",
            member=pulumi.Output.format(
                "principalSet://iam.googleapis.com/{0}/attribute.repository/{1}",
                self.pool.name,
                args.github_repository,
            ),
            opts=self.child,
        )
        deployer_member = self.deployer.email.apply(lambda e: f"serviceAccount:{e}")
        self.grants = project_roles(
            self.child, f"{name}-deployer", args.project, deployer_member, DEPLOYER_ROLES
        )
        return {"deployer_email": self.deployer.email, "provider": self.provider.name}

"""Workload Identity Federation for GitHub Actions, no JSON keys (docs/ci.md).

Two identities, each impersonable by one exact OIDC subject of one repository, bound by its
immutable id (https://docs.github.com/en/actions/reference/security/oidc):

- ``preview``: ``repo:<owner>/<name>:pull_request`` (preview.yml). Read-only: project viewer,
  the Pulumi state bucket read, and write only to Pulumi's lock files.
- ``deployer``: ``repo:<owner>/<name>:environment:production`` on ``refs/heads/main``
  (deploy.yml behind the protected ``production`` environment).

The deployer cannot grant itself anything: no Project IAM Admin except conditionally for the
runtime's project roles (https://cloud.google.com/iam/docs/setting-limits-on-granting-roles), no
Service Account Admin, no Workload Identity Pool Admin, and actAs only on the runtime and
scheduler accounts. This component is therefore applied by a project owner (`pulumi up` from a
laptop); CI's `pulumi up` leaves it unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.components.base import Component
from infra.components.identity import RUNTIME_PROJECT_ROLES, service_account

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
DEPLOY_REF = "refs/heads/main"
DEPLOY_ENVIRONMENT = "production"

# What CI's `pulumi up` needs to manage this stack's resources; predefined roles only.
DEPLOYER_ROLES = (
    "roles/artifactregistry.admin",
    "roles/bigquery.admin",
    "roles/cloudscheduler.admin",
    "roles/cloudsql.admin",
    "roles/compute.networkAdmin",
    "roles/iam.serviceAccountCreator",
    "roles/iam.serviceAccountViewer",
    "roles/iam.workloadIdentityPoolViewer",
    "roles/iap.admin",
    "roles/monitoring.alertPolicyEditor",
    "roles/monitoring.notificationChannelEditor",
    "roles/run.admin",
    "roles/secretmanager.admin",
    "roles/servicenetworking.networksAdmin",
    "roles/serviceusage.serviceUsageAdmin",
    "roles/storage.admin",
)
# Project IAM Admin, but only to grant or revoke the runtime account's project roles.
LIMITED_IAM_ADMIN = "roles/resourcemanager.projectIamAdmin"
PREVIEW_ROLES = ("roles/viewer",)


@dataclass
class CiIdentityArgs:
    project: str
    prefix: str
    pool_id: str
    github_repository: str
    github_repository_id: str
    state_bucket: str
    runtime_account: pulumi.Input[str]
    scheduler_account: pulumi.Input[str]


def subjects(repository: str) -> dict[str, str]:
    """The OIDC ``sub`` of each CI identity (GitHub's default subject format)."""
    return {
        "deployer": f"repo:{repository}:environment:{DEPLOY_ENVIRONMENT}",
        "preview": f"repo:{repository}:pull_request",
    }


def attribute_condition(repository: str, repository_id: str) -> str:
    """CEL: only this repository (by immutable id and name), and only the two subjects."""
    sub = subjects(repository)
    return (
        f"assertion.repository_id == '{repository_id}' "
        f"&& assertion.repository == '{repository}' "
        f"&& ((assertion.sub == '{sub['deployer']}' && assertion.ref == '{DEPLOY_REF}') "
        f"|| assertion.sub == '{sub['preview']}')"
    )


def limited_iam_admin_condition() -> str:
    roles = ", ".join(f"'{r}'" for r in RUNTIME_PROJECT_ROLES)
    return f"api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly([{roles}])"


class CiIdentity(Component, area="ci_identity"):
    """Pool + GitHub OIDC provider + ``deployer`` and ``preview`` accounts."""

    def build(self, name: str, args: CiIdentityArgs) -> dict:
        self.pool = gcp.iam.WorkloadIdentityPool(
            f"{name}-pool",
            project=args.project,
            workload_identity_pool_id=args.pool_id,
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
                "attribute.repository_id": "assertion.repository_id",
                "attribute.repository": "assertion.repository",
                "attribute.ref": "assertion.ref",
                "attribute.actor": "assertion.actor",
            },
            attribute_condition=attribute_condition(
                args.github_repository, args.github_repository_id
            ),
            oidc={"issuer_uri": GITHUB_ISSUER},
            opts=self.child,
        )
        self.deployer = self._account(name, args, "deployer", "CI deployer (main, production)")
        self.preview = self._account(name, args, "ci-preview", "CI preview (pull requests)")
        self.grants = [
            self._project_grant(f"{name}-deployer", args.project, self.deployer, role)
            for role in DEPLOYER_ROLES
        ]
        self.grants.append(
            self._project_grant(
                f"{name}-deployer",
                args.project,
                self.deployer,
                LIMITED_IAM_ADMIN,
                condition={
                    "title": "runtime-project-roles-only",
                    "description": "May grant and revoke only the runtime account's roles",
                    "expression": limited_iam_admin_condition(),
                },
            )
        )
        self.grants += [
            gcp.serviceaccount.IAMMember(
                f"{name}-deployer-actas-{key}",
                service_account_id=pulumi.Output.from_input(email).apply(
                    lambda e, p=args.project: f"projects/{p}/serviceAccounts/{e}"
                ),
                role="roles/iam.serviceAccountUser",
                member=self.deployer.email.apply(lambda e: f"serviceAccount:{e}"),
                opts=self.child,
            )
            for key, email in (
                ("runtime", args.runtime_account),
                ("scheduler", args.scheduler_account),
            )
        ]
        self.grants += [
            self._project_grant(f"{name}-preview", args.project, self.preview, role)
            for role in PREVIEW_ROLES
        ]
        preview_member = self.preview.email.apply(lambda e: f"serviceAccount:{e}")
        self.grants += [
            gcp.storage.BucketIAMMember(
                f"{name}-preview-state-read",
                bucket=args.state_bucket,
                role="roles/storage.objectViewer",
                member=preview_member,
                opts=self.child,
            ),
            # A preview takes Pulumi's stack lock: objects under .pulumi/locks/ only.
            gcp.storage.BucketIAMMember(
                f"{name}-preview-state-locks",
                bucket=args.state_bucket,
                role="roles/storage.objectUser",
                member=preview_member,
                condition={
                    "title": "pulumi-locks-only",
                    "expression": (
                        "resource.name.startsWith("
                        f"'projects/_/buckets/{args.state_bucket}/objects/.pulumi/locks/')"
                    ),
                },
                opts=self.child,
            ),
        ]
        sub = subjects(args.github_repository)
        self.impersonation = {
            key: gcp.serviceaccount.IAMMember(
                f"{name}-{key}-wif",
                service_account_id=account.name,
                role="roles/iam.workloadIdentityUser",
                member=pulumi.Output.format(
                    "principal://iam.googleapis.com/{0}/subject/{1}", self.pool.name, sub[key]
                ),
                opts=self.child,
            )
            for key, account in (("deployer", self.deployer), ("preview", self.preview))
        }
        return {
            "deployer_email": self.deployer.email,
            "preview_email": self.preview.email,
            "provider": self.provider.name,
        }

    def _account(
        self, name: str, args: CiIdentityArgs, key: str, display: str
    ) -> gcp.serviceaccount.Account:
        described = f"{display} of {args.github_repository}"[:100]
        return service_account(self.child, name, args.project, args.prefix, key, described)

    def _project_grant(
        self,
        prefix: str,
        project: str,
        account: gcp.serviceaccount.Account,
        role: str,
        condition: dict | None = None,
    ) -> gcp.projects.IAMMember:
        return gcp.projects.IAMMember(
            f"{prefix}-{role.split('/')[1].replace('.', '-')}",
            project=project,
            role=role,
            member=account.email.apply(lambda e: f"serviceAccount:{e}"),
            condition=condition,
            opts=self.child,
        )

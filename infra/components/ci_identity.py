"""Workload Identity Federation for GitHub Actions, no JSON keys (docs/ci.md).

Two identities, each impersonable by one exact OIDC subject of one repository, bound by its
immutable id (https://docs.github.com/en/actions/reference/security/oidc), and each only from
a job that runs in its GitHub environment: the provider's attribute condition also requires the
token's ``environment`` claim, which GitHub sets only for a job that references an environment
and only once that environment's protection rules (required reviewers) have passed
(https://docs.github.com/en/actions/reference/workflows-and-actions/deployments-and-environments).
A workflow file edited in a pull request therefore gets no token for either identity without a
reviewer's approval (https://cloud.google.com/iam/docs/workload-identity-federation-with-deployment-pipelines).

- ``preview``: ``repo:<owner>/<name>:environment:preview`` (preview.yml's gated job). No
  project role: read the Pulumi state bucket and write only Pulumi's lock files in it.
- ``deployer``: ``repo:<owner>/<name>:environment:production`` on ``refs/heads/main``
  (deploy.yml behind the protected ``production`` environment). Storage admin only on this
  stack's buckets (an IAM condition on the bucket name) plus the state bucket's objects.

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
from infra.config import Github

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
DEPLOY_REF = "refs/heads/main"
DEPLOY_ENVIRONMENT = "production"
PREVIEW_ENVIRONMENT = "preview"

# What CI's `pulumi up` needs to manage this stack's resources; predefined roles only, granted
# on the project because creating a resource is checked on the project. BigQuery Data Owner
# rather than BigQuery Admin: datasets and tables, no jobs of others, no reservations.
DEPLOYER_ROLES = (
    "roles/artifactregistry.admin",
    "roles/bigquery.dataOwner",
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
)
# Storage Admin on the project, but buckets and objects only when the bucket is this stack's
# (`<project>-<prefix>-...`); creating and listing buckets is checked on the project, so it
# stays allowed. Names in conditions: projects/_/buckets/BUCKET[/objects/OBJECT]
# (https://cloud.google.com/iam/docs/conditions-resource-attributes).
SCOPED_STORAGE_ADMIN = "roles/storage.admin"
# Project IAM Admin, but only to grant or revoke the runtime account's project roles.
LIMITED_IAM_ADMIN = "roles/resourcemanager.projectIamAdmin"
# No project role for previews: a project-level role such as roles/viewer also makes its holder
# a reader of every BigQuery dataset whose access list has the default projectReaders entry
# (https://cloud.google.com/bigquery/docs/control-access-to-resources-iam). What a preview reads
# is the state bucket; `pulumi preview` (no --refresh) reads no other resource.
PREVIEW_ROLES: tuple[str, ...] = ()
# On the Pulumi state bucket. Object Viewer reads the state; Legacy Bucket Reader adds the
# bucket's own metadata (storage.buckets.get), which project Viewer used to give.
STATE_READ_ROLES = ("roles/storage.objectViewer", "roles/storage.legacyBucketReader")
# The deployer writes the state (its Storage Admin does not reach a bucket outside the stack's).
STATE_WRITE_ROLES = ("roles/storage.objectAdmin", "roles/storage.legacyBucketReader")


@dataclass
class CiIdentityArgs:
    project: str
    prefix: str
    pool_id: str
    #: The repository CI deploys from and its immutable id (config checks both are set).
    github: Github
    state_bucket: str
    runtime_account: pulumi.Input[str]
    scheduler_account: pulumi.Input[str]


ENVIRONMENTS = {"deployer": DEPLOY_ENVIRONMENT, "preview": PREVIEW_ENVIRONMENT}


def subjects(repository: str) -> dict[str, str]:
    """The OIDC ``sub`` of each CI identity (GitHub's default subject format for a job that
    references an environment)."""
    return {key: f"repo:{repository}:environment:{env}" for key, env in ENVIRONMENTS.items()}


def attribute_condition(repository: str, repository_id: str) -> str:
    """CEL: only this repository (by immutable id and name), only the two subjects, and each
    only with its ``environment`` claim, so a customised subject template cannot stand in for
    the environment; the deployer only on main."""
    sub = subjects(repository)
    deployer = (
        f"assertion.sub == '{sub['deployer']}' && assertion.environment == '{DEPLOY_ENVIRONMENT}'"
        f" && assertion.ref == '{DEPLOY_REF}'"
    )
    preview = (
        f"assertion.sub == '{sub['preview']}' && assertion.environment == '{PREVIEW_ENVIRONMENT}'"
    )
    return (
        f"assertion.repository_id == '{repository_id}' "
        f"&& assertion.repository == '{repository}' "
        f"&& (({deployer}) || ({preview}))"
    )


def stack_bucket_prefix(project: str, prefix: str) -> str:
    """Every bucket the stack creates is named ``<project>-<prefix>-...`` (infra/__main__.py)."""
    return f"{project}-{prefix}-"


def storage_admin_condition(project: str, prefix: str) -> str:
    bucket = f"projects/_/buckets/{stack_bucket_prefix(project, prefix)}"
    return (
        "!resource.type.startsWith('storage.googleapis.com/') "
        f"|| resource.name.startsWith('{bucket}')"
    )


def limited_iam_admin_condition() -> str:
    roles = ", ".join(f"'{r}'" for r in RUNTIME_PROJECT_ROLES)
    return f"api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly([{roles}])"


class CiIdentity(Component, area="ci_identity"):
    """Pool + GitHub OIDC provider + ``deployer`` and ``preview`` accounts."""

    def build(self, name: str, args: CiIdentityArgs) -> dict:
        self.pool = self.own(
            gcp.iam.WorkloadIdentityPool,
            "pool",
            workload_identity_pool_id=args.pool_id,
            display_name="GitHub Actions",
        )
        self.provider = self.own(
            gcp.iam.WorkloadIdentityPoolProvider,
            "provider",
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
                args.github.repository, args.github.repository_id
            ),
            oidc={"issuer_uri": GITHUB_ISSUER},
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
                SCOPED_STORAGE_ADMIN,
                condition={
                    "title": "stack-buckets-only",
                    "description": "Buckets and objects of this stack's buckets only",
                    "expression": storage_admin_condition(args.project, args.prefix),
                },
            )
        )
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
        deployer_member = self.deployer.email.apply(lambda e: f"serviceAccount:{e}")
        self.grants += [
            gcp.storage.BucketIAMMember(
                f"{name}-deployer-state-{role.split('.')[-1]}",
                bucket=args.state_bucket,
                role=role,
                member=deployer_member,
                opts=self.child,
            )
            for role in STATE_WRITE_ROLES
        ]
        preview_member = self.preview.email.apply(lambda e: f"serviceAccount:{e}")
        self.grants += [
            gcp.storage.BucketIAMMember(
                # The first keeps its old logical name, so the grant is not re-created.
                f"{name}-preview-state-read"
                if role == "roles/storage.objectViewer"
                else f"{name}-preview-state-{role.split('.')[-1]}",
                bucket=args.state_bucket,
                role=role,
                member=preview_member,
                opts=self.child,
            )
            for role in STATE_READ_ROLES
        ]
        self.grants += [
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
        sub = subjects(args.github.repository)
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
        described = f"{display} of {args.github.repository}"[:100]
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

"""Cloud Run v2 service hosting the Mage UI: gen2, Direct VPC egress, one instance at most,
secrets by reference, an owner account from a generated secret, private by default."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp
import pulumi_random as random

from infra.components.apis import IAM_PROPAGATION_SECONDS, Propagation
from infra.components.base import Component
from infra.components.naming import formerly, keyed
from infra.components.runtime_env import (
    MAGE_PORT,
    PROJECT_NAME,
    RUNNER,
    ProjectContainerArgs,
    edit_env,
)
from infra.components.secrets import StoredSecret, read_secret, secret_reader, store_secret
from infra.config import IapOauth, Ui

# Mage 0.9.80 serves /api/status with `bypass_oauth_check` (mage_ai/server/server.py), so it
# answers without a login even with REQUIRE_USER_AUTHENTICATION=1. Mage binds its port first and
# then, still inside the same coroutine, opens its DB session and creates the owner; Tornado
# cannot answer a request until that coroutine first awaits, so the HTTP probe passes only once
# Mage can serve -- a TCP probe passes seconds too early.
HEALTH_PATH = "/api/status"
# Cloud Run shuts the container down when the startup probe has not passed within
# failureThreshold x periodSeconds, which may not exceed 240 s for services
# (https://cloud.google.com/run/docs/configuring/healthchecks); initialDelaySeconds <= 240 is
# on top. Checked by the rule cloud-run-startup-probe-within-limits (infra/policy/policy_rules.py).
STARTUP_PROBE = {"initial_delay_seconds": 10, "period_seconds": 10, "timeout_seconds": 5}
STARTUP_FAILURE_THRESHOLD = 23  # 10 s + 23 x 10 s = 240 s for migrations and the first owner


def startup_probe() -> dict:
    """An HTTP startup probe on Mage's login-free status route, within Cloud Run's budget."""
    return {
        "http_get": {"path": HEALTH_PATH, "port": MAGE_PORT},
        **STARTUP_PROBE,
        "failure_threshold": STARTUP_FAILURE_THRESHOLD,
    }


@dataclass(kw_only=True)
class MageServiceArgs(ProjectContainerArgs):
    runtime_member: pulumi.Input[str]
    owner_email: str
    always_on: bool
    #: Who reaches the UI (``access``, ``members``); edits are ``persist``.
    ui: Ui
    #: IAP's custom OAuth client (a project without an organization): its id and the Secret
    #: Manager secret holding its client secret; unset: Google's managed client.
    iap_oauth: IapOauth


class MageService(Component, area="mage_service"):
    """The UI service, its owner-password secret and who may reach it."""

    def build(self, name: str, args: MageServiceArgs) -> dict:
        owner_password = random.RandomPassword(
            f"{name}-owner-password",
            length=24,
            special=True,
            override_special="-_.",
            opts=self.child,
        )
        self.owner_secret, self.owner_secret_grant = self._generated(
            name, args, "owner", "owner-password", owner_password
        )
        # Mage signs its session tokens with JWT_SECRET, whose default is the public constant
        # 'materia' (mage_ai/settings/server.py): anyone could forge a login. Generated here.
        jwt_value = random.RandomPassword(
            f"{name}-jwt-secret", length=64, special=False, opts=self.child
        )
        self.jwt_secret, self.jwt_secret_grant = self._generated(
            name, args, "jwt", "jwt-secret", jwt_value
        )
        # Cloud Run checks these two grants when it creates the revision: wait for them.
        grants = [self.owner_secret_grant, self.jwt_secret_grant]
        self.grants_propagated = Propagation(
            f"{name}-secret-grants-propagated",
            IAM_PROPAGATION_SECONDS,
            [g.id for g in grants],
            pulumi.ResourceOptions(parent=self, depends_on=grants),
        )
        server_plain, server_secrets = args.env.server(
            args.owner_email, self.owner_secret.ref, self.jwt_secret.ref
        )
        plain = args.env.plain() | server_plain | edit_env(args.persist)
        secrets = args.env.secrets() | server_secrets
        iap = args.ui.iap
        self.service = gcp.cloudrunv2.Service(
            f"{name}-ui",
            project=args.project,
            location=args.region,
            name=f"{args.prefix}-ui",
            ingress="INGRESS_TRAFFIC_ALL",
            # No launch_stage: IAP on a Cloud Run service is GA (the provider's own IAP example
            # sets none: https://www.pulumi.com/registry/packages/gcp/api-docs/cloudrunv2/service/),
            # and the API reports back the stage the features need, so a BETA set here showed
            # BETA -> GA on every later preview.
            iap_enabled=iap,
            invoker_iam_disabled=False,
            deletion_protection=args.deletion_protection,
            # One instance across all revisions that receive traffic (the revision's own limit
            # counts per revision, so a rollout could run two schedulers); Cloud Run applies it
            # at once and may exceed it briefly
            # (https://cloud.google.com/run/docs/configuring/max-instances).
            scaling={"max_instance_count": 1},
            template=args.template(
                args.container(
                    # mage_runner start: Mage's secrets key from Secret Manager, the dev volume
                    # seeded once, then `mage start` with these args. Scheduled runs belong to
                    # Cloud Scheduler + the job in both modes (ENV=prod keeps Mage from creating
                    # the twin's `envs: [dev]` triggers). Cost mode: the UI only, as an instance
                    # that scales to zero cannot keep a scheduler. Always-on: Mage's scheduler
                    # too, for UI backfills and UI triggers.
                    RUNNER,
                    [
                        "start",
                        PROJECT_NAME,
                        "--instance-type",
                        "server_and_scheduler" if args.always_on else "web_server",
                    ],
                    plain,
                    secrets,
                    ports={"container_port": MAGE_PORT},
                    volume_mounts=args.volume_mounts(),
                    resources={
                        "limits": {"cpu": args.size.cpu, "memory": args.size.memory},
                        "cpu_idle": not args.always_on,
                        "startup_cpu_boost": True,
                    },
                    startup_probe=startup_probe(),
                    liveness_probe={
                        "http_get": {"path": HEALTH_PATH, "port": MAGE_PORT},
                        "period_seconds": 30,
                        "timeout_seconds": 10,
                        "failure_threshold": 3,
                    },
                ),
                timeout="3600s",
                max_instance_request_concurrency=80,
                scaling={"min_instance_count": 1 if args.always_on else 0, "max_instance_count": 1},
                volumes=args.volumes(),
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[
                    *args.depends_on,
                    self.grants_propagated,
                    self.owner_secret.version,
                    self.jwt_secret.version,
                ],
            ),
        )
        self.access = self._grant_access(name, args)
        self.iap_settings = self._custom_oauth_client(name, args)
        self.url = self.service.uri
        return {"url": self.url}

    def _generated(
        self,
        name: str,
        args: MageServiceArgs,
        key: str,
        secret_suffix: str,
        value: random.RandomPassword,
    ) -> tuple[StoredSecret, gcp.secretmanager.SecretIamMember]:
        """``value`` stored as the secret ``<prefix>-<secret_suffix>``, readable by the runtime."""
        secret = store_secret(
            f"{name}-{key}",
            args.project,
            f"{args.prefix}-{secret_suffix}",
            value.result,
            parent=self,
        )
        reader = secret_reader(
            f"{name}-{key}-secret-access",
            args.project,
            secret.secret_id,
            args.runtime_member,
            self.child,
        )
        return secret, reader

    def _custom_oauth_client(self, name: str, args: MageServiceArgs) -> gcp.iap.Settings | None:
        """IAP signs users in with the stack's custom OAuth client, which -- unlike Google's
        managed one -- admits accounts outside an organization
        (https://cloud.google.com/iap/docs/custom-oauth-configuration). The client secret is read
        from Secret Manager at deploy time and stays a Pulumi secret; None without a client."""
        client = args.iap_oauth
        if not (args.ui.iap and client.client_id and client.client_secret_id):
            return None
        return gcp.iap.Settings(
            f"{name}-iap-oauth-client",
            # The IAP resource of one Cloud Run service: iap_web/cloud_run-<region>/services/<name>
            # (`gcloud iap settings get --resource-type=cloud-run --region=... --service=...`).
            name=pulumi.Output.format(
                "projects/{0}/iap_web/cloud_run-{1}/services/{2}",
                args.project,
                args.region,
                self.service.name,
            ),
            access_settings={
                "oauth_settings": {
                    "client_id": client.client_id,
                    "client_secret": read_secret(args.project, client.client_secret_id, self),
                }
            },
            opts=self.child,
        )

    def _grant_access(self, name: str, args: MageServiceArgs) -> list[pulumi.Resource]:
        """IAP: users get IAP access, IAP's agent invokes. Else: run.invoker per member."""
        service = self.service.name
        run_invoker = ("roles/run.invoker", gcp.cloudrunv2.ServiceIamMember, {"name": service})
        iap_user = (
            "roles/iap.httpsResourceAccessor",
            gcp.iap.WebCloudRunServiceIamMember,
            {"cloud_run_service_name": service},
        )

        def grant(kind: tuple, logical: str, member: pulumi.Input[str], opts) -> pulumi.Resource:
            """One member's grant of ``kind`` (role, resource type, service field) on the UI."""
            role, resource, target = kind
            return resource(
                logical,
                project=args.project,
                location=args.region,
                role=role,
                member=member,
                opts=opts,
                **target,
            )

        if args.ui.public:
            members = ["allUsers"]
        elif args.ui.iap:
            agent = gcp.projects.ServiceIdentity(
                f"{name}-iap-agent",
                project=args.project,
                service="iap.googleapis.com",
                opts=self.child,
            )
            grants: list[pulumi.Resource] = [
                grant(run_invoker, f"{name}-iap-agent-invoker", agent.member, self.child)
            ]
            for i, (logical, member) in enumerate(
                keyed(f"{name}-iap-user", args.ui.members).items()
            ):
                opts = formerly(self.child, f"{name}-iap-user-{i}")
                grants.append(grant(iap_user, logical, member, opts))
            return grants
        else:
            members = args.ui.members
        return [
            grant(run_invoker, logical, member, formerly(self.child, f"{name}-invoker-{i}"))
            for i, (logical, member) in enumerate(keyed(f"{name}-invoker", members).items())
        ]

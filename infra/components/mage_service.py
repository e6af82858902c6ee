"""Cloud Run v2 service hosting the Mage UI: gen2, Direct VPC egress, one instance at most,
secrets by reference, an owner account from a generated secret, private by default."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp
import pulumi_random as random

from infra.components.runtime_env import (
    MAGE_PORT,
    PROJECT_DIR,
    PROJECT_NAME,
    RUNNER,
    RuntimeEnv,
    edit_env,
    env_list,
    project_mount,
    project_volume,
    vpc_access,
)
from infra.components.secrets import store_secret


@dataclass
class MageServiceArgs:
    project: str
    region: str
    prefix: str
    image: pulumi.Input[str]
    service_account: pulumi.Input[str]
    runtime_member: pulumi.Input[str]
    env: RuntimeEnv
    network: pulumi.Input[str]
    subnet: pulumi.Input[str]
    owner_email: str
    always_on: bool = False
    cpu: str = "1"
    memory: str = "2Gi"
    ui_access: str = "iap"
    ui_members: list[str] = field(default_factory=list)
    deletion_protection: bool = True
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    #: "persist": the project on a Cloud Storage volume of ``state_bucket``; "refuse": read-only.
    ui_edits: str = "persist"
    state_bucket: pulumi.Input[str] | None = None


class MageService(pulumi.ComponentResource):
    """The UI service, its owner-password secret and who may reach it."""

    def __init__(
        self, name: str, args: MageServiceArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("mage-gcp:mage_service:MageService", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        owner_password = random.RandomPassword(
            f"{name}-owner-password", length=24, special=True, override_special="-_.", opts=child
        )
        self.owner_secret = store_secret(
            f"{name}-owner",
            args.project,
            f"{args.prefix}-owner-password",
            owner_password.result,
            parent=self,
        )
        self.owner_secret_grant = gcp.secretmanager.SecretIamMember(
            f"{name}-owner-secret-access",
            project=args.project,
            secret_id=self.owner_secret.secret_id,
            role="roles/secretmanager.secretAccessor",
            member=args.runtime_member,
            opts=child,
        )
        plain = (
            args.env.plain()
            | {
                "REQUIRE_USER_AUTHENTICATION": "1",
                "DEFAULT_OWNER_EMAIL": args.owner_email,
                "DEFAULT_OWNER_USERNAME": "owner",
            }
            | edit_env(args.ui_edits)
        )
        persist = args.ui_edits == "persist" and args.state_bucket is not None
        secrets = args.env.secrets() | {"DEFAULT_OWNER_PASSWORD": self.owner_secret.secret_id}
        iap = args.ui_access == "iap"
        self.service = gcp.cloudrunv2.Service(
            f"{name}-ui",
            project=args.project,
            location=args.region,
            name=f"{args.prefix}-ui",
            ingress="INGRESS_TRAFFIC_ALL",
            launch_stage="BETA" if iap else None,
            iap_enabled=iap,
            invoker_iam_disabled=False,
            deletion_protection=args.deletion_protection,
            template={
                "service_account": args.service_account,
                "execution_environment": "EXECUTION_ENVIRONMENT_GEN2",
                "timeout": "3600s",
                "max_instance_request_concurrency": 80,
                "scaling": {
                    "min_instance_count": 1 if args.always_on else 0,
                    "max_instance_count": 1,
                },
                "vpc_access": vpc_access(args.network, args.subnet),
                "volumes": [project_volume(args.state_bucket)] if persist else [],
                "containers": [
                    {
                        "image": args.image,
                        # mage_runner start: Mage's secrets key from Secret Manager, the dev
                        # volume seeded once, then `mage start` with these args.
                        "commands": RUNNER,
                        # Scheduled runs belong to Cloud Scheduler + the job in both modes (ENV=prod
                        # keeps Mage from creating the twin's `envs: [dev]` triggers). Cost mode:
                        # the UI only, as an instance that scales to zero cannot keep a scheduler.
                        # Always-on: Mage's scheduler too, for UI backfills and UI triggers.
                        "args": [
                            "start",
                            PROJECT_NAME,
                            "--instance-type",
                            "server_and_scheduler" if args.always_on else "web_server",
                        ],
                        "working_dir": PROJECT_DIR,
                        "ports": {"container_port": MAGE_PORT},
                        "envs": env_list(plain, secrets),
                        "volume_mounts": [project_mount()] if persist else [],
                        "resources": {
                            "limits": {"cpu": args.cpu, "memory": args.memory},
                            "cpu_idle": not args.always_on,
                            "startup_cpu_boost": True,
                        },
                        "startup_probe": {
                            "tcp_socket": {"port": MAGE_PORT},
                            "initial_delay_seconds": 5,
                            "period_seconds": 10,
                            "timeout_seconds": 5,
                            "failure_threshold": 30,
                        },
                        "liveness_probe": {
                            "http_get": {"path": "/api/status", "port": MAGE_PORT},
                            "period_seconds": 30,
                            "timeout_seconds": 10,
                            "failure_threshold": 3,
                        },
                    }
                ],
            },
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[*args.depends_on, self.owner_secret_grant]
            ),
        )
        self.access = self._grant_access(name, args, child)
        self.url = self.service.uri
        self.register_outputs({"url": self.url})

    def _grant_access(
        self, name: str, args: MageServiceArgs, child: pulumi.ResourceOptions
    ) -> list[pulumi.Resource]:
        """IAP: users get IAP access, IAP's agent invokes. Else: run.invoker per member."""
        if args.ui_access == "public":
            members = ["allUsers"]
        elif args.ui_access == "iap":
            agent = gcp.projects.ServiceIdentity(
                f"{name}-iap-agent",
                project=args.project,
                service="iap.googleapis.com",
                opts=child,
            )
            grants: list[pulumi.Resource] = [
                gcp.cloudrunv2.ServiceIamMember(
                    f"{name}-iap-agent-invoker",
                    project=args.project,
                    location=args.region,
                    name=self.service.name,
                    role="roles/run.invoker",
                    member=agent.member,
                    opts=child,
                )
            ]
            for i, member in enumerate(args.ui_members):
                grants.append(
                    gcp.iap.WebCloudRunServiceIamMember(
                        f"{name}-iap-user-{i}",
                        project=args.project,
                        location=args.region,
                        cloud_run_service_name=self.service.name,
                        role="roles/iap.httpsResourceAccessor",
                        member=member,
                        opts=child,
                    )
                )
            return grants
        else:
            members = args.ui_members
        return [
            gcp.cloudrunv2.ServiceIamMember(
                f"{name}-invoker-{i}",
                project=args.project,
                location=args.region,
                name=self.service.name,
                role="roles/run.invoker",
                member=member,
                opts=child,
            )
            for i, member in enumerate(members)
        ]

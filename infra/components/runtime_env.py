"""The container environment shared by the Mage service and the pipeline jobs, as the one
environment contract (mage_project/utils/env_contract.py) defines it: plain settings as values,
secrets only as Secret Manager references."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.components.secrets import SecretRef
from infra.config import Resources
from mage_project.utils import env_contract, image_contract

MAGE_PORT = 6789
PROJECT_DIR = "/home/src"
PROJECT_NAME = image_contract.PROJECT
#: The image's copy of the project (Dockerfile), seeded into the dev project volume once.
PROJECT_SEED = "/opt/mage-gcp/seed/mage_project"
#: The one entrypoint of the service and the jobs (scripts/mage_runner/): ``run`` makes a Mage
#: pipeline run, ``start`` writes Mage's secrets key (and seeds the volume) then `mage start`.
RUNNER = list(image_contract.RUNNER)
#: The Dockerfile's ``USER`` (uid, gid): Cloud Run runs the image as it, so the dev project
#: volume is mounted as it (tests/lint/test_dockerfile.py keeps the two equal).
IMAGE_USER = (10001, 10001)


@dataclass
class RuntimeEnv:
    project: str
    region: str
    bucket_name: pulumi.Input[str]
    dataset_id: pulumi.Input[str]
    postgres_host: pulumi.Input[str]
    taxi_user: str
    taxi_database: str
    taxi_password_secret: SecretRef
    mage_url_secret: SecretRef
    taxi_data_base_url: str
    #: The hosted Mage's state bucket (MageState): run logs, block outputs, the dev project.
    state_bucket: pulumi.Input[str]
    #: Mage's secrets key in Secret Manager (MageState).
    secrets_key_secret: SecretRef

    def plain(self) -> dict[str, pulumi.Input[str]]:
        return env_contract.resolve(
            "cloud",
            {
                "POSTGRES_HOST": self.postgres_host,
                "POSTGRES_DBNAME": self.taxi_database,
                "POSTGRES_USER": self.taxi_user,
                "GCS_BUCKET": self.bucket_name,
                "GCP_PROJECT_ID": self.project,
                "GCP_REGION": self.region,
                "BIGQUERY_DATASET": self.dataset_id,
                "TAXI_DATA_BASE_URL": self.taxi_data_base_url,
                "MAGE_STATE_BUCKET": self.state_bucket,
                "MAGE_REMOTE_VARIABLES_DIR": pulumi.Output.format(
                    "gs://{0}/variables", self.state_bucket
                ),
            },
            secret=False,
        )

    def secrets(self) -> dict[str, SecretRef]:
        return env_contract.resolve(
            "cloud",
            {
                "POSTGRES_PASSWORD": self.taxi_password_secret,
                "MAGE_DATABASE_CONNECTION_URL": self.mage_url_secret,
                "MAGE_SECRETS_KEY": self.secrets_key_secret,
            },
            secret=True,
        )

    def server(
        self,
        owner_email: str,
        owner_password_secret: SecretRef,
        jwt_secret: SecretRef,
    ):
        """The Mage UI service's extra (plain, secret) variables: login, its owner, the JWT key."""
        plain = env_contract.resolve(
            "cloud", {"DEFAULT_OWNER_EMAIL": owner_email}, only_server=True, secret=False
        )
        secrets = env_contract.resolve(
            "cloud",
            {"DEFAULT_OWNER_PASSWORD": owner_password_secret, "JWT_SECRET": jwt_secret},
            only_server=True,
            secret=True,
        )
        return plain, secrets


@dataclass(kw_only=True)
class ContainerArgs:
    """What the UI service and the jobs share: the same image, identity, environment and
    network, with their own sizes."""

    project: str
    region: str
    prefix: str
    image: pulumi.Input[str]
    service_account: pulumi.Input[str]
    env: RuntimeEnv
    network: pulumi.Input[str]
    subnet: pulumi.Input[str]
    #: The container's size (the stack config's ``service`` or ``job`` group).
    size: Resources
    deletion_protection: bool
    depends_on: list[pulumi.Resource]

    def container(
        self,
        commands: list[str],
        args: list[str],
        plain: dict[str, pulumi.Input[str]],
        secrets: dict[str, SecretRef],
        **extra: object,
    ) -> dict:
        """The Cloud Run v2 container: this image in the project folder with these variables,
        within its limits (``extra`` adds or replaces fields)."""
        return {
            "image": self.image,
            "commands": commands,
            "args": args,
            "working_dir": PROJECT_DIR,
            "envs": env_list(plain, secrets),
            "resources": {"limits": {"cpu": self.size.cpu, "memory": self.size.memory}},
            **extra,
        }

    def job(
        self,
        logical: str,
        job_name: str,
        task: dict,
        opts: pulumi.ResourceOptions,
        **execution: object,
    ) -> gcp.cloudrunv2.Job:
        """A Cloud Run v2 job running ``task`` (a :meth:`template`): one task per execution
        unless the execution overrides it; ``execution`` adds settings such as parallelism."""
        return gcp.cloudrunv2.Job(
            logical,
            project=self.project,
            location=self.region,
            name=job_name,
            deletion_protection=self.deletion_protection,
            template={"task_count": 1, **execution, "template": task},
            opts=opts,
        )

    def template(self, container: dict, **settings: object) -> dict:
        """A gen2 revision or task template: the runtime account, Direct VPC egress,
        ``container`` and ``settings``."""
        return {
            "service_account": self.service_account,
            "execution_environment": "EXECUTION_ENVIRONMENT_GEN2",
            "vpc_access": vpc_access(self.network, self.subnet),
            **settings,
            "containers": [container],
        }


@dataclass(kw_only=True)
class ProjectContainerArgs(ContainerArgs):
    """A container that runs the project the UI edits: the service, the scheduled jobs and the
    backfill tasks."""

    #: True (uiEdits persist): the project on a Cloud Storage volume of ``env.state_bucket``
    #: (UI edits kept, jobs run them too); False (refuse): the image's code, edits refused.
    persist: bool

    def volumes(self) -> list[dict]:
        """The dev project volume (``persist``), else none."""
        return [project_volume(self.env.state_bucket)] if self.persist else []

    def volume_mounts(self) -> list[dict]:
        """Where the dev project volume is mounted (``persist``), else nowhere."""
        return [project_mount()] if self.persist else []

    def job_env(self) -> dict[str, pulumi.Input[str]]:
        """A job's plain variables: the shared ones, and in dev the seed (a job may be the first
        to start on an empty volume)."""
        return self.env.plain() | (edit_env(self.persist) if self.persist else {})

    def job_task(
        self, commands: list[str], args: list[str], max_retries: int, timeout_minutes: int
    ) -> dict:
        """A job's task template: the project's container with the jobs' variables, on the dev
        project volume where there is one."""
        container = self.container(
            commands, args, self.job_env(), self.env.secrets(), volume_mounts=self.volume_mounts()
        )
        return self.template(
            container,
            max_retries=max_retries,
            timeout=f"{timeout_minutes * 60}s",
            volumes=self.volumes(),
        )


def env_list(plain: dict[str, pulumi.Input[str]], secrets: dict[str, SecretRef]) -> list[dict]:
    """Cloud Run v2 ``envs``: values for settings, ``value_source.secret_key_ref`` for secrets,
    each pinned to the version the stack created (:attr:`StoredSecret.ref`)."""
    envs: list[dict] = [{"name": k, "value": v} for k, v in sorted(plain.items())]
    envs += [
        {"name": k, "value_source": {"secret_key_ref": {"secret": s.secret, "version": s.version}}}
        for k, s in sorted(secrets.items())
    ]
    return envs


def vpc_access(network: pulumi.Input[str], subnet: pulumi.Input[str]) -> dict:
    """Direct VPC egress: private ranges (Cloud SQL) through the VPC, the rest direct."""
    return {
        "network_interfaces": [{"network": network, "subnetwork": subnet}],
        "egress": "PRIVATE_RANGES_ONLY",
    }


def project_volume(bucket: pulumi.Input[str], prefix: str = "project") -> dict:
    """The dev project folder as a Cloud Storage volume (gcsfuse, gen2 only), the bucket's
    ``project/`` prefix: https://cloud.google.com/run/docs/configuring/services/cloud-storage-volume-mounts
    (no file locking: the last writer of a file wins; writes are staged in instance memory).
    Owned by the image's user (gcsfuse ``uid``/``gid``; without them every inode belongs to the
    mounting process, not to the unprivileged user Mage runs as, and the seed cannot be
    written: https://cloud.google.com/storage/docs/cloud-storage-fuse/cli-options)."""
    uid, gid = IMAGE_USER
    options = [f"only-dir={prefix}", f"uid={uid}", f"gid={gid}"]
    return {"name": "project", "gcs": {"bucket": bucket, "mount_options": options}}


def project_mount() -> dict:
    """Mounted where the image keeps the project, so service and jobs share one repo path
    (Mage's triggers and runs are keyed by it)."""
    return {"name": "project", "mount_path": f"{PROJECT_DIR}/{PROJECT_NAME}"}


def edit_env(persist: bool) -> dict[str, str]:
    """The UI's edit model (set by stack kind, so beside the env contract): ``persist`` seeds the
    project volume from the image once; ``refuse`` sets Mage's DISABLE_NOTEBOOK_EDIT_ACCESS=2 --
    pipeline, block and file edits refused (mage_ai/settings/server.py
    is_disable_pipeline_edit_access), while secrets and runs stay possible (1 also refuses
    creating secrets)."""
    if not persist:
        return {"DISABLE_NOTEBOOK_EDIT_ACCESS": "2"}
    return {"MAGE_PROJECT_SEED": PROJECT_SEED}

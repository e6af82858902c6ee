"""The container environment shared by the Mage service and the pipeline jobs
(docs/CONTRACTS.md): plain settings as values, secrets only as Secret Manager references."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

MAGE_PORT = 6789
PROJECT_DIR = "/home/src"
PROJECT_NAME = "mage_project"
#: The image's copy of the project (Dockerfile), seeded into the dev project volume once.
PROJECT_SEED = "/opt/mage-gcp/seed/mage_project"
#: The one entrypoint of the service and the jobs (mage_runner/): ``run`` makes a Mage
#: pipeline run, ``start`` writes Mage's secrets key (and seeds the volume) then `mage start`.
RUNNER = ["python", "-m", "mage_runner"]


@dataclass
class RuntimeEnv:
    project: str
    region: str
    bucket_name: pulumi.Input[str]
    dataset_id: pulumi.Input[str]
    postgres_host: pulumi.Input[str]
    taxi_user: str
    taxi_database: str
    taxi_password_secret: pulumi.Input[str]
    mage_url_secret: pulumi.Input[str]
    taxi_data_base_url: str
    schema: str = "ny_taxi"
    #: The hosted Mage's state bucket (MageState): run logs, block outputs, the dev project.
    state_bucket: pulumi.Input[str] | None = None
    #: Mage's secrets key in Secret Manager (MageState).
    secrets_key_secret: pulumi.Input[str] | None = None

    def plain(self) -> dict[str, pulumi.Input[str]]:
        return {
            "POSTGRES_HOST": self.postgres_host,
            "POSTGRES_PORT": "5432",
            "POSTGRES_DBNAME": self.taxi_database,
            "POSTGRES_USER": self.taxi_user,
            "POSTGRES_SCHEMA": self.schema,
            # libpq (psycopg 2 and 3) reads it: Cloud SQL only accepts encrypted connections.
            "PGSSLMODE": "require",
            "GCS_BUCKET": self.bucket_name,
            "GCP_PROJECT_ID": self.project,
            "GCP_REGION": self.region,
            "BIGQUERY_DATASET": self.dataset_id,
            "TAXI_DATA_BASE_URL": self.taxi_data_base_url,
            "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
            "MAGE_DATA_DIR": f"{PROJECT_DIR}/mage_data",
            # Mage's environment: triggers.yaml entries with `envs: [dev]` (the local twin's
            # schedules) are not created here; Cloud Scheduler runs the cloud's schedules.
            "ENV": "prod",
        } | self._state()

    def _state(self) -> dict[str, pulumi.Input[str]]:
        """Mage's logging_config bucket and remote_variables_dir (mage_project/metadata.yaml)."""
        if self.state_bucket is None:
            return {}
        remote = pulumi.Output.format("gs://{0}/variables", self.state_bucket)
        return {"MAGE_STATE_BUCKET": self.state_bucket, "MAGE_REMOTE_VARIABLES_DIR": remote}

    def secrets(self) -> dict[str, pulumi.Input[str]]:
        secrets = {
            "POSTGRES_PASSWORD": self.taxi_password_secret,
            "MAGE_DATABASE_CONNECTION_URL": self.mage_url_secret,
        }
        if self.secrets_key_secret is not None:
            secrets["MAGE_SECRETS_KEY"] = self.secrets_key_secret
        return secrets


def env_list(
    plain: dict[str, pulumi.Input[str]], secrets: dict[str, pulumi.Input[str]]
) -> list[dict]:
    """Cloud Run v2 ``envs``: values for settings, ``value_source.secret_key_ref`` for secrets."""
    envs: list[dict] = [{"name": k, "value": v} for k, v in sorted(plain.items())]
    envs += [
        {"name": k, "value_source": {"secret_key_ref": {"secret": s, "version": "latest"}}}
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
    (no file locking: the last writer of a file wins; writes are staged in instance memory)."""
    return {"name": "project", "gcs": {"bucket": bucket, "mount_options": [f"only-dir={prefix}"]}}


def project_mount() -> dict:
    """Mounted where the image keeps the project, so service and jobs share one repo path
    (Mage's triggers and runs are keyed by it)."""
    return {"name": "project", "mount_path": f"{PROJECT_DIR}/{PROJECT_NAME}"}


def edit_env(ui_edits: str) -> dict[str, str]:
    """The UI's edit model: ``persist`` seeds the project volume from the image once;
    ``refuse`` sets Mage's DISABLE_NOTEBOOK_EDIT_ACCESS=2 -- pipeline, block and file edits
    refused (mage_ai/settings/server.py is_disable_pipeline_edit_access), while secrets and
    runs stay possible (1 would also refuse creating secrets)."""
    if ui_edits == "refuse":
        return {"DISABLE_NOTEBOOK_EDIT_ACCESS": "2"}
    return {"MAGE_PROJECT_SEED": PROJECT_SEED}

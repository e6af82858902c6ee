"""The container environment shared by the Mage service and the pipeline jobs
(docs/CONTRACTS.md): plain settings as values, secrets only as Secret Manager references."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

MAGE_PORT = 6789
PROJECT_DIR = "/home/src"
PROJECT_NAME = "mage_project"


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
        }

    def secrets(self) -> dict[str, pulumi.Input[str]]:
        return {
            "POSTGRES_PASSWORD": self.taxi_password_secret,
            "MAGE_DATABASE_CONNECTION_URL": self.mage_url_secret,
        }


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

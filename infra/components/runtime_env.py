"""The container environment shared by the Mage service and the pipeline jobs, as the one
environment contract (mage_project/utils/env_contract.py) defines it: plain settings as values,
secrets only as Secret Manager references."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from mage_project.utils import env_contract

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
            },
            secret=False,
        )

    def secrets(self) -> dict[str, pulumi.Input[str]]:
        return env_contract.resolve(
            "cloud",
            {
                "POSTGRES_PASSWORD": self.taxi_password_secret,
                "MAGE_DATABASE_CONNECTION_URL": self.mage_url_secret,
            },
            secret=True,
        )

    def server(
        self,
        owner_email: str,
        owner_password_secret: pulumi.Input[str],
        jwt_secret: pulumi.Input[str],
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
    """What the UI service and the pipeline jobs share: the same image, identity, environment
    and network, with their own sizes."""

    project: str
    region: str
    prefix: str
    image: pulumi.Input[str]
    service_account: pulumi.Input[str]
    env: RuntimeEnv
    network: pulumi.Input[str]
    subnet: pulumi.Input[str]
    cpu: str = "1"
    memory: str = "2Gi"
    deletion_protection: bool = True
    depends_on: list[pulumi.Resource] = field(default_factory=list)


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

"""Cloud SQL for PostgreSQL: private IP only, SSL required, backups + PITR; databases for
Mage's metadata and the taxi tables; generated passwords kept in Secret Manager."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp
import pulumi_random as random

from infra.components.base import Component
from infra.components.network import Network
from infra.components.secrets import StoredSecret, store_secret
from infra.config import Sql

# CIS-recommended logging flags; cheap and useful when a pipeline misbehaves.
DATABASE_FLAGS = {
    "log_checkpoints": "on",
    "log_connections": "on",
    "log_disconnections": "on",
    "log_lock_waits": "on",
    "log_min_error_statement": "error",
    "log_temp_files": "0",
}


def database_flags(max_connections: int | None) -> dict[str, str]:
    """The logging flags, and max_connections where the stack sets it: set even when it equals
    the tier's default, so the plan says what the instance admits (the Cloud SQL stand-in
    applies it too)."""
    extra = {} if max_connections is None else {"max_connections": str(max_connections)}
    return DATABASE_FLAGS | extra


@dataclass
class DatabaseArgs:
    project: str
    region: str
    prefix: str
    #: The VPC the private IP lives in, with its Service Networking connection.
    network: Network
    #: The instance's settings, as the stack config gives them (infra/config.py, ``Sql``).
    sql: Sql
    deletion_protection: bool
    #: The max_connections flag (config: the tier's default, or what backfills need).
    max_connections: int | None
    mage_database: str = "mage"
    taxi_database: str = "taxi"


class Database(Component, area="database"):
    """The instance, two databases and users, and three secrets:
    the taxi user's password, Mage's full connection URL and nothing in plain text."""

    def build(self, name: str, args: DatabaseArgs) -> dict:
        self.instance = gcp.sql.DatabaseInstance(
            f"{name}-instance",
            project=args.project,
            region=args.region,
            database_version="POSTGRES_16",
            deletion_protection=args.deletion_protection,
            settings={
                "tier": args.sql.tier,
                "edition": "ENTERPRISE",
                "availability_type": args.sql.availability,
                "disk_size": args.sql.disk_gb,
                "disk_type": args.sql.disk_type,
                "disk_autoresize": True,
                "deletion_protection_enabled": args.deletion_protection,
                "ip_configuration": {
                    "ipv4_enabled": False,
                    "private_network": args.network.vpc.id,
                    "ssl_mode": args.sql.ssl_mode,
                    "enable_private_path_for_google_cloud_services": True,
                },
                "backup_configuration": {
                    "enabled": True,
                    "point_in_time_recovery_enabled": True,
                    "start_time": "03:00",
                    "transaction_log_retention_days": args.sql.log_retention_days,
                    "backup_retention_settings": {
                        "retained_backups": args.sql.backup_count,
                        "retention_unit": "COUNT",
                    },
                },
                "maintenance_window": {"day": 7, "hour": 4, "update_track": "stable"},
                "database_flags": [
                    {"name": k, "value": v} for k, v in database_flags(args.max_connections).items()
                ],
                "user_labels": {"app": "mage-gcp"},
            },
            # With disk_autoresize the disk grows on its own; a later `up` would try to shrink it
            # back to disk_size (a replacement), so the field is only read at creation, as the
            # provider documents (https://www.pulumi.com/registry/packages/gcp/api-docs/sql/
            # databaseinstance/#disksize_python: "set lifecycle.ignore_changes on this field").
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[args.network.private_services],
                ignore_changes=["settings.diskSize"],
            ),
        )

        def on_instance(kind: type, logical: str, **fields: object) -> pulumi.CustomResource:
            """A ``kind`` (database or user) on the instance, a child of this component."""
            return kind(
                logical,
                project=args.project,
                instance=self.instance.name,
                opts=self.child,
                **fields,
            )

        # Cloud SQL refuses to drop a PostgreSQL database other users can reach, or a user who
        # owns objects (Mage's tables); the provider documents deletion_policy ABANDON for
        # both (https://www.pulumi.com/registry/packages/gcp/api-docs/sql/user/,
        # .../sql/database/): `pulumi destroy` forgets them and deleting the instance removes
        # them. The instance keeps its own deletion protection (prod).
        self.databases = {
            db: on_instance(gcp.sql.Database, f"{name}-db-{db}", name=db, deletion_policy="ABANDON")
            for db in (args.mage_database, args.taxi_database)
        }
        self.passwords = {
            user: random.RandomPassword(
                f"{name}-{user}-password", length=32, special=False, opts=self.child
            )
            for user in (args.mage_database, args.taxi_database)
        }
        self.users = {
            user: on_instance(
                gcp.sql.User,
                f"{name}-user-{user}",
                name=user,
                password=password.result,
                deletion_policy="ABANDON",
            )
            for user, password in self.passwords.items()
        }
        self.private_ip = self.instance.private_ip_address
        self.connection_name = self.instance.connection_name
        self.taxi_user = args.taxi_database
        self.taxi_database = args.taxi_database
        self.taxi_password: StoredSecret = store_secret(
            f"{name}-taxi-password",
            args.project,
            f"{args.prefix}-taxi-db-password",
            self.passwords[args.taxi_database].result,
            parent=self,
        )
        # The whole URL is one secret, so the password never becomes a plain env value.
        mage_url = pulumi.Output.format(
            "postgresql+psycopg2://{0}:{1}@{2}:5432/{3}?sslmode=require",
            args.mage_database,
            self.passwords[args.mage_database].result,
            self.private_ip,
            args.mage_database,
        )
        self.mage_url: StoredSecret = store_secret(
            f"{name}-mage-url",
            args.project,
            f"{args.prefix}-metadata-db-url",
            mage_url,
            parent=self,
            depends_on=[self.users[args.mage_database]],
        )
        # What a container reading these secrets needs to exist first: both databases and users.
        self.ready: list[pulumi.Resource] = [*self.databases.values(), *self.users.values()]
        return {"connection_name": self.connection_name, "private_ip": self.private_ip}

"""The GCS lake bucket, and the hosted Mage's state (bucket + secrets key): private, uniform
access, with lifecycle rules."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp
import pulumi_random as random

from infra.components.base import Component
from infra.components.secrets import store_secret
from infra.config import Lake


@dataclass(kw_only=True)
class BucketArgs:
    """A private bucket's project, region and globally unique name."""

    project: str
    region: str
    bucket_name: str
    #: dev: `pulumi destroy` deletes the bucket with every object and version in it; prod
    #: (False) refuses to delete a bucket that is not empty.
    force_destroy: bool

    def bucket(
        self, logical: str, versioning: bool, lifecycle: list[dict], opts: pulumi.ResourceOptions
    ) -> gcp.storage.Bucket:
        """A Standard bucket in the region: uniform access, public access prevented; emptied on
        destroy only where ``force_destroy`` says so (dev)."""
        return gcp.storage.Bucket(
            logical,
            project=self.project,
            name=self.bucket_name,
            location=self.region.upper(),
            storage_class="STANDARD",
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            versioning={"enabled": versioning},
            lifecycle_rules=lifecycle,
            force_destroy=self.force_destroy,
            opts=opts,
        )


@dataclass(kw_only=True)
class StorageArgs(BucketArgs):
    #: Versioning, expiry (and the size the cost estimate assumes), from the stack config.
    lake: Lake


def lifecycle_rules(versioning: bool, delete_after_days: int) -> list[dict]:
    """Abort stale uploads; drop old noncurrent versions; optionally expire objects."""
    rules: list[dict] = [
        {"action": {"type": "AbortIncompleteMultipartUpload"}, "condition": {"age": 1}},
    ]
    if versioning:
        rules.append(
            {"action": {"type": "Delete"}, "condition": {"days_since_noncurrent_time": 30}}
        )
    if delete_after_days:
        rules.append({"action": {"type": "Delete"}, "condition": {"age": delete_after_days}})
    return rules


class Storage(Component, area="storage"):
    """The data lake bucket; access is granted per service account on the bucket only."""

    def build(self, name: str, args: StorageArgs) -> dict:
        rules = lifecycle_rules(args.lake.versioning, args.lake.delete_after_days)
        self.bucket = args.bucket(f"{name}-lake", args.lake.versioning, rules, self.child)
        self.bucket_name = self.bucket.name
        return {"bucket": self.bucket.name}


#: Prefixes of the state bucket (docs/hosted-ui.md): Mage's run logs, block outputs, and (dev)
#: the project folder the UI edits.
LOGS_PREFIX = "logs"
VARIABLES_PREFIX = "variables"
PROJECT_PREFIX = "project"


@dataclass(kw_only=True)
class MageStateArgs(BucketArgs):
    prefix: str
    log_retention_days: int
    variables_retention_days: int
    project_volume: bool


def state_lifecycle_rules(log_days: int, variables_days: int) -> list[dict]:
    """Logs and block outputs expire by prefix; the project folder only loses old versions."""
    return [
        {"action": {"type": "AbortIncompleteMultipartUpload"}, "condition": {"age": 1}},
        {
            "action": {"type": "Delete"},
            "condition": {"age": log_days, "matches_prefixes": [f"{LOGS_PREFIX}/"]},
        },
        {
            "action": {"type": "Delete"},
            "condition": {"age": variables_days, "matches_prefixes": [f"{VARIABLES_PREFIX}/"]},
        },
        {"action": {"type": "Delete"}, "condition": {"days_since_noncurrent_time": 30}},
    ]


class MageState(Component, area="storage"):
    """What the hosted Mage remembers beyond an instance: a state bucket (run logs, block
    outputs, the dev project volume) and Mage's secrets key in Secret Manager."""

    def build(self, name: str, args: MageStateArgs) -> dict:
        # Versioning: a UI edit overwritten on the project volume can be restored (30 days).
        rules = state_lifecycle_rules(args.log_retention_days, args.variables_retention_days)
        self.bucket = args.bucket(f"{name}-bucket", True, rules, self.child)
        if args.project_volume:
            # The folder the volume mounts (gcsfuse only-dir); the service seeds it on first start.
            gcp.storage.BucketObject(
                f"{name}-project-folder",
                bucket=self.bucket.name,
                name=f"{PROJECT_PREFIX}/",
                content=" ",
                opts=self.child,
            )
        # Mage's Fernet key: 32 random bytes, base64 (mage_runner writes it where Mage reads it).
        key = random.RandomBytes(f"{name}-secrets-key", length=32, opts=self.child)
        self.secrets_key = store_secret(
            f"{name}-secrets-key",
            args.project,
            f"{args.prefix}-secrets-key",
            key.base64,
            parent=self,
        )
        self.bucket_name = self.bucket.name
        return {"bucket": self.bucket.name}

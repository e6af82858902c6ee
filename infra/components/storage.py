"""The GCS lake bucket: private, uniform access, with lifecycle rules."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi_gcp as gcp

from infra.components.base import Component


@dataclass
class StorageArgs:
    project: str
    region: str
    bucket_name: str
    versioning: bool = False
    delete_after_days: int = 0


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
        self.bucket = gcp.storage.Bucket(
            f"{name}-lake",
            project=args.project,
            name=args.bucket_name,
            location=args.region.upper(),
            storage_class="STANDARD",
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            versioning={"enabled": args.versioning},
            lifecycle_rules=lifecycle_rules(args.versioning, args.delete_after_days),
            force_destroy=False,
            opts=self.child,
        )
        self.bucket_name = self.bucket.name
        return {"bucket": self.bucket.name}

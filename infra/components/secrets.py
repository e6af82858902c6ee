"""Secret Manager helper: one secret with one version, replicated automatically."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp


@dataclass
class StoredSecret:
    """A secret and its current version; Cloud Run references ``secret_id`` with version latest."""

    secret: gcp.secretmanager.Secret
    version: gcp.secretmanager.SecretVersion

    @property
    def secret_id(self) -> pulumi.Output[str]:
        return self.secret.secret_id


def store_secret(
    name: str,
    project: str,
    secret_id: str,
    value: pulumi.Input[str],
    parent: pulumi.Resource,
    depends_on: list[pulumi.Resource] | None = None,
) -> StoredSecret:
    """Create ``secret_id`` holding ``value`` (kept secret in Pulumi state too)."""
    secret = gcp.secretmanager.Secret(
        name,
        project=project,
        secret_id=secret_id,
        replication={"auto": {}},
        labels={"managed-by": "pulumi", "app": "mage-gcp"},
        opts=pulumi.ResourceOptions(parent=parent, depends_on=depends_on or []),
    )
    version = gcp.secretmanager.SecretVersion(
        f"{name}-v",
        secret=secret.id,
        secret_data=pulumi.Output.secret(value),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return StoredSecret(secret=secret, version=version)


def secret_reader(
    name: str,
    project: str,
    secret_id: pulumi.Input[str],
    member: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> gcp.secretmanager.SecretIamMember:
    """Let ``member`` read the versions of this one secret (secretAccessor on the secret only)."""
    return gcp.secretmanager.SecretIamMember(
        name,
        project=project,
        secret_id=secret_id,
        role="roles/secretmanager.secretAccessor",
        member=member,
        opts=opts,
    )

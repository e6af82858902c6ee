"""Secret Manager helper: one secret with one version, replicated automatically."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp


@dataclass(frozen=True)
class SecretRef:
    """A Cloud Run ``secret_key_ref``: a secret and the version a revision reads."""

    secret: pulumi.Input[str]
    version: pulumi.Input[str]


@dataclass
class StoredSecret:
    """A secret and the one version the stack created."""

    secret: gcp.secretmanager.Secret
    version: gcp.secretmanager.SecretVersion

    @property
    def secret_id(self) -> pulumi.Output[str]:
        return self.secret.secret_id

    @property
    def ref(self) -> SecretRef:
        """The reference Cloud Run reads: this version, not ``latest``. A new value (a rotated
        password, a replaced SQL instance) is a new version, so the service's template and the
        jobs' change with it and Cloud Run rolls a revision; with ``latest`` a running instance
        would keep the old value until it happened to restart
        (https://cloud.google.com/run/docs/configuring/services/secrets)."""
        return SecretRef(self.secret.secret_id, self.version.version)


def store_secret(
    name: str,
    project: str,
    secret_id: str,
    value: pulumi.Input[str],
    parent: pulumi.Resource,
    depends_on: list[pulumi.Resource] | None = None,
) -> StoredSecret:
    """Create ``secret_id`` holding ``value`` (kept secret in Pulumi state too), as children of
    ``parent`` (after what the component depends on: ``Component.child``)."""
    child = getattr(parent, "child", pulumi.ResourceOptions(parent=parent))
    secret = gcp.secretmanager.Secret(
        name,
        project=project,
        secret_id=secret_id,
        replication={"auto": {}},
        labels={"managed-by": "pulumi", "app": "mage-gcp"},
        opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=depends_on)),
    )
    version = gcp.secretmanager.SecretVersion(
        f"{name}-v",
        secret=secret.id,
        secret_data=pulumi.Output.secret(value),
        opts=child,
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


def read_secret(project: str, secret_id: str, parent: pulumi.Resource) -> pulumi.Output[str]:
    """The latest version of a secret someone else made (e.g. IAP's OAuth client secret), read
    at deploy time and kept secret in the plan and the state; the stack config holds its id only
    (https://www.pulumi.com/registry/packages/gcp/api-docs/secretmanager/getsecretversion/)."""
    version = gcp.secretmanager.get_secret_version_output(
        project=project, secret=secret_id, opts=pulumi.InvokeOutputOptions(parent=parent)
    )
    return pulumi.Output.secret(version.secret_data)

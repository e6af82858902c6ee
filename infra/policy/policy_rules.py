"""The stack's security invariants as plain functions: `(resource_type, props) -> [violation]`.

`props` are a resource's inputs as the Pulumi engine sends them to a policy pack (camelCase keys,
nested objects as mappings, secrets already unwrapped). Each rule returns one sentence per problem,
or an empty list when the resource complies or the rule does not apply to its type.

During `pulumi preview` some inputs are not known yet; reading one raises the policy SDK's
`UnknownValueError`, which the SDK reports as "can't run this policy during preview". Rules only
read what their verdict needs, so an unknown unrelated value never hides a violation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pulumi_policy.proxy import UnknownValueError

Rule = Callable[[str, Mapping[str, Any]], list[str]]

SQL_INSTANCE = "gcp:sql/databaseInstance:DatabaseInstance"
BUCKET = "gcp:storage/bucket:Bucket"
SA_KEY = "gcp:serviceaccount/key:Key"
RUN_SERVICE = "gcp:cloudrunv2/service:Service"
RUN_JOB = "gcp:cloudrunv2/job:Job"
RUN_V1_SERVICE = "gcp:cloudrun/service:Service"
BQ_DATASET = "gcp:bigquery/dataset:Dataset"
BQ_DATASET_ACCESS = "gcp:bigquery/datasetAccess:DatasetAccess"

PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")
FORBIDDEN_ROLES = ("roles/editor", "roles/owner")
SSL_ONLY_MODES = ("ENCRYPTED_ONLY", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED")
# Modules whose IAM resources guard data (or everything, for projects/folders/organizations).
DATA_MODULES = frozenset(
    {
        "storage",
        "bigquery",
        "secretmanager",
        "sql",
        "kms",
        "artifactregistry",
        "pubsub",
        "projects",
        "folder",
        "organizations",
    }
)
SECRET_ENV_NAME = re.compile(
    r"(^|_)(PASSWORD|PASSWD|SECRET|TOKEN|KEY|APIKEY|CREDENTIALS|CONNECTION_URL|DSN)(_|$)",
    re.IGNORECASE,
)
DIGEST_PINNED = re.compile(r"@sha256:[0-9a-f]{64}$")
_IAM_TYPE = re.compile(
    r"^gcp:(?P<module>[a-z0-9]+)/[A-Za-z0-9]+:[A-Za-z0-9]*I[Aa][Mm](?P<kind>Member|Binding|Policy)$"
)


def _get(props: Mapping[str, Any], key: str, default: Any = None) -> Any:
    """props[key], or `default` when the key is absent (an unknown value still raises)."""
    return props[key] if key in list(props) else default


def _has(props: Mapping[str, Any], key: str) -> bool:
    """Whether the key is present, without reading (and so without failing on) an unknown value."""
    return key in list(props)


def _plain_value_set(env: Mapping[str, Any]) -> bool:
    """Whether an env entry carries a literal `value` (an unknown one, known only after an update,
    is a literal too); an empty string counts as none."""
    if not _has(env, "value"):
        return False
    try:
        return env["value"] not in (None, "")
    except UnknownValueError:
        return True


def _maps(value: Any) -> list[Mapping[str, Any]]:
    """A nested object list (or single object) as a list of mappings; None becomes []."""
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [value]
    return [item for item in value if isinstance(item, Mapping)]


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(item) for item in value]


def _iam_kind(resource_type: str) -> tuple[str, str] | None:
    """(module, Member|Binding|Policy) for a gcp IAM resource type, else None."""
    match = _IAM_TYPE.match(resource_type)
    return (match["module"], match["kind"]) if match else None


def _iam_grants(kind: str, props: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    """Every (role, member) pair an IAM member/binding/policy resource grants."""
    if kind == "Member":
        yield str(_get(props, "role", "")), str(_get(props, "member", ""))
    elif kind == "Binding":
        role = str(_get(props, "role", ""))
        for member in _strings(_get(props, "members")):
            yield role, member
    else:
        policy = _get(props, "policyData") or "{}"
        data = json.loads(policy) if isinstance(policy, str) else policy
        for binding in _maps(data.get("bindings")):
            for member in _strings(binding.get("members")):
                yield str(binding.get("role", "")), member


def check_sql_private_ip(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Cloud SQL has no public IPv4 address and no authorized networks."""
    if resource_type != SQL_INSTANCE:
        return []
    ip = _get(_get(props, "settings") or {}, "ipConfiguration") or {}
    problems = []
    if _get(ip, "ipv4Enabled", True) is not False:
        problems.append(
            "Cloud SQL instance has a public IP: set settings.ipConfiguration.ipv4Enabled to false "
            "and connect over the private network."
        )
    if _maps(_get(ip, "authorizedNetworks")):
        problems.append(
            "Cloud SQL instance lists authorizedNetworks: remove them, only the VPC may connect."
        )
    return problems


def check_sql_ssl(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Cloud SQL refuses unencrypted connections."""
    if resource_type != SQL_INSTANCE:
        return []
    ip = _get(_get(props, "settings") or {}, "ipConfiguration") or {}
    mode = _get(ip, "sslMode")
    if mode in SSL_ONLY_MODES:
        return []
    return [
        f"Cloud SQL instance accepts unencrypted connections (sslMode={mode!r}): set "
        f"settings.ipConfiguration.sslMode to one of {', '.join(SSL_ONLY_MODES)}."
    ]


def check_sql_backups(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Cloud SQL takes automated backups with point-in-time recovery."""
    if resource_type != SQL_INSTANCE:
        return []
    backup = _get(_get(props, "settings") or {}, "backupConfiguration") or {}
    problems = []
    if _get(backup, "enabled") is not True:
        problems.append(
            "Cloud SQL backups are off: set settings.backupConfiguration.enabled to true."
        )
    if _get(backup, "pointInTimeRecoveryEnabled") is not True:
        problems.append(
            "Cloud SQL point-in-time recovery is off: set "
            "settings.backupConfiguration.pointInTimeRecoveryEnabled to true."
        )
    return problems


def check_bucket_private(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Buckets use uniform bucket-level access and enforce public access prevention."""
    if resource_type != BUCKET:
        return []
    problems = []
    if _get(props, "uniformBucketLevelAccess") is not True:
        problems.append("Bucket allows per-object ACLs: set uniformBucketLevelAccess to true.")
    if _get(props, "publicAccessPrevention") != "enforced":
        problems.append('Bucket can be made public: set publicAccessPrevention to "enforced".')
    return problems


def check_no_public_members(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """No allUsers/allAuthenticatedUsers on a data resource (bucket, dataset, secret, project...)."""
    public: list[str] = []
    iam = _iam_kind(resource_type)
    if iam and iam[0] in DATA_MODULES:
        public = [member for _, member in _iam_grants(iam[1], props) if member in PUBLIC_MEMBERS]
    elif resource_type in (BQ_DATASET, BQ_DATASET_ACCESS):
        entries = _maps(_get(props, "accesses")) if resource_type == BQ_DATASET else [props]
        for entry in entries:
            for key in ("specialGroup", "iamMember"):
                if _get(entry, key) in PUBLIC_MEMBERS:
                    public.append(str(_get(entry, key)))
    return [
        f"{resource_type} grants access to {member}: grant it to specific service accounts or "
        "users instead."
        for member in dict.fromkeys(public)
    ]


def check_no_primitive_roles(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """No roles/editor or roles/owner, on any resource."""
    iam = _iam_kind(resource_type)
    if not iam:
        return []
    roles = {role for role, _ in _iam_grants(iam[1], props) if role in FORBIDDEN_ROLES}
    return [
        f"{resource_type} grants {role}: grant the narrow predefined roles the member needs."
        for role in sorted(roles)
    ]


def check_no_service_account_keys(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """No exported service-account keys; workloads use their attached identity or WIF."""
    if resource_type != SA_KEY:
        return []
    return [
        "Service-account keys are long-lived credentials: use the runtime service account on "
        "Cloud Run and Workload Identity Federation in CI instead."
    ]


def _containers(resource_type: str, props: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The containers of a Cloud Run service or job, [] for other types."""
    template = _get(props, "template") or {}
    if resource_type == RUN_SERVICE:
        return _maps(_get(template, "containers"))
    if resource_type == RUN_JOB:
        return _maps(_get(_get(template, "template") or {}, "containers"))
    if resource_type == RUN_V1_SERVICE:
        return _maps(_get(_get(template, "spec") or {}, "containers"))
    return []


def check_no_plain_secret_env(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """A Cloud Run env var whose name looks secret takes its value from Secret Manager."""
    problems = []
    for container in _containers(resource_type, props):
        for env in _maps(_get(container, "envs")):
            name = str(_get(env, "name", ""))
            if SECRET_ENV_NAME.search(name) and _plain_value_set(env):
                problems.append(
                    f"Environment variable {name} holds a plain value: store it in Secret "
                    "Manager and reference it with valueSource.secretKeyRef."
                )
    return problems


def check_image_digest(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Cloud Run runs an immutable image: `...@sha256:<64 hex>`, never a mutable tag."""
    return [
        f"Container image {image!r} is not pinned by digest: deploy `<repository>@sha256:<digest>`."
        for container in _containers(resource_type, props)
        if not DIGEST_PINNED.search(image := str(_get(container, "image", "")))
    ]


def check_single_ui_instance(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """The Mage UI service (every Cloud Run v2 service in this stack) runs at most one instance.

    Mage's scheduler lives in the UI process: two instances would start every trigger twice.
    """
    if resource_type != RUN_SERVICE:
        return []
    scaling = _get(_get(props, "template") or {}, "scaling") or {}
    problems = []
    if _get(scaling, "maxInstanceCount") != 1:
        problems.append(
            "The Mage UI service may scale past one instance (Mage's scheduler would run twice): "
            "set template.scaling.maxInstanceCount to 1."
        )
    service_scaling = _get(props, "scaling") or {}
    for key in ("maxInstanceCount", "manualInstanceCount", "minInstanceCount"):
        value = _get(service_scaling, key)
        if value is not None and value > 1:
            problems.append(f"The Mage UI service sets scaling.{key}={value}: use at most 1.")
    return problems


RULES: dict[str, Rule] = {
    "cloudsql-no-public-ip": check_sql_private_ip,
    "cloudsql-ssl-required": check_sql_ssl,
    "cloudsql-backups-and-pitr": check_sql_backups,
    "bucket-uniform-access-and-public-access-prevention": check_bucket_private,
    "no-public-members-on-data": check_no_public_members,
    "no-editor-or-owner-roles": check_no_primitive_roles,
    "no-service-account-keys": check_no_service_account_keys,
    "no-plain-secret-env-vars": check_no_plain_secret_env,
    "cloud-run-image-pinned-by-digest": check_image_digest,
    "mage-ui-single-instance": check_single_ui_instance,
}


def violations(resource_type: str, props: Mapping[str, Any]) -> dict[str, list[str]]:
    """Every rule's violations for one resource (rules with none are left out)."""
    found = {name: rule(resource_type, props) for name, rule in RULES.items()}
    return {name: problems for name, problems in found.items() if problems}

"""The stack's security invariants, the one rule set: the policy pack enforces it in
`pulumi preview/up` and tests/infra asserts it on the planned stacks.

Resource rules are `(resource_type, props) -> [violation]`; stack rules (which need more than
one resource) are `(resources) -> [violation]` over `(resource_type, name, props)` triples.

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
HMAC_KEY = "gcp:storage/hmacKey:HmacKey"
KEY_TYPES = (SA_KEY, HMAC_KEY)
ACL_TYPES = (
    "gcp:storage/bucketACL:BucketACL",
    "gcp:storage/bucketAccessControl:BucketAccessControl",
    "gcp:storage/defaultObjectACL:DefaultObjectACL",
    "gcp:storage/defaultObjectAccessControl:DefaultObjectAccessControl",
    "gcp:storage/objectAccessControl:ObjectAccessControl",
)
UI_INVOKER = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"
PROJECT_MEMBER = "gcp:projects/iAMMember:IAMMember"
WIF_PROVIDER = "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider"
SECRET_VERSION = "gcp:secretmanager/secretVersion:SecretVersion"
RUN_SERVICE = "gcp:cloudrunv2/service:Service"
RUN_JOB = "gcp:cloudrunv2/job:Job"
RUN_V1_SERVICE = "gcp:cloudrun/service:Service"
BQ_DATASET = "gcp:bigquery/dataset:Dataset"
BQ_DATASET_ACCESS = "gcp:bigquery/datasetAccess:DatasetAccess"

PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")
RUNTIME_DATA_ROLES = re.compile(r"^roles/(storage|bigquery)\.(object|data|admin)")
# One repository, by immutable id and by name (ci_identity.attribute_condition).
WIF_CONDITION = re.compile(
    r"^assertion\.repository_id == '[0-9]+' && assertion\.repository == '[^'*]+/[^'*]+' && "
)
SA_IAM_MEMBER = "gcp:serviceaccount/iAMMember:IAMMember"
# Roles that let their holder grant itself (or act as) anything in the project.
ESCALATING_ROLES = (
    "roles/resourcemanager.projectIamAdmin",
    "roles/iam.securityAdmin",
    "roles/iam.serviceAccountAdmin",
    "roles/iam.serviceAccountTokenCreator",
    "roles/iam.serviceAccountUser",
    "roles/iam.workloadIdentityPoolAdmin",
)
LIMITED_GRANTS = "api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly(["

# --- Limits GCP enforces that cannot run offline (one definition; config.py reads them too) ---
# Cloud Run: failureThreshold x periodSeconds of a service's startup probe may not exceed 240 s,
# and initialDelaySeconds / periodSeconds at most 240 each (defaults: period 10, threshold 3).
# https://cloud.google.com/run/docs/configuring/healthchecks
# https://cloud.google.com/run/docs/reference/rest/v2/Container#probe
STARTUP_PROBE_BUDGET_SECONDS = 240
# Cloud Run vCPU -> allowed memory in MiB (second generation: at least 512 MiB).
# https://cloud.google.com/run/docs/configuring/services/cpu (the "vCPU and memory table")
CPU_MEMORY_MIB: dict[str, tuple[int, int]] = {
    "1": (512, 4 * 1024),
    "2": (512, 8 * 1024),
    "4": (2 * 1024, 16 * 1024),
    "6": (4 * 1024, 24 * 1024),
    "8": (4 * 1024, 32 * 1024),
}
_MEMORY = re.compile(r"^([1-9][0-9]*)(Mi|Gi)$")


def memory_mib(memory: str) -> int | None:
    """``"2Gi"`` -> 2048, ``"512Mi"`` -> 512; None for anything else."""
    match = _MEMORY.match(str(memory))
    if not match:
        return None
    return int(match[1]) * (1024 if match[2] == "Gi" else 1)


def cpu_memory_problem(cpu: str, memory: str) -> str | None:
    """Why Cloud Run refuses this cpu/memory pair, or None when the table allows it."""
    if str(cpu) not in CPU_MEMORY_MIB:
        return f"{cpu} vCPU is not one of {', '.join(CPU_MEMORY_MIB)}"
    low, high = CPU_MEMORY_MIB[str(cpu)]
    mib = memory_mib(memory)
    if mib is None:
        return f"{memory!r} is not a size such as 512Mi or 2Gi"
    if not low <= mib <= high:
        return f"{cpu} vCPU takes {low} MiB to {high // 1024} GiB of memory, not {memory}"
    return None


# Cloud SQL for PostgreSQL sets max_connections by the instance's memory (GiB lower bound ->
# connections): https://cloud.google.com/sql/docs/postgres/quotas#maximum_concurrent_connections
# ("0.6 (db-f1-micro): 25" ... "120 and above: 1,000"). Shared-core tiers by name.
SQL_MAX_CONNECTIONS: tuple[tuple[float, int], ...] = (
    (0.6, 25),
    (1.7, 50),
    (3.75, 100),
    (6, 200),
    (7.5, 400),
    (15, 500),
    (30, 600),
    (60, 800),
    (120, 1000),
)
SQL_SHARED_CORE_GIB = {"db-f1-micro": 0.6, "db-g1-small": 1.7}
# PostgreSQL keeps superuser_reserved_connections (3) of them for superusers, which Cloud SQL's
# own cloudsqladmin uses: https://www.postgresql.org/docs/16/runtime-config-connection.html
SQL_RESERVED_CONNECTIONS = 3
# What one process of the stack holds at most (tests/infra/test_connection_budget.py measures
# a task against the twin): a pipeline run (a scheduled job's or a backfill task's) holds one
# connection to Mage's metadata DB and, in a Postgres sink, the load transaction and its
# slice's DDL connection; the UI's Mage server (web server and, always-on, its scheduler) more.
CONNECTIONS_PER_RUN = 3
CONNECTIONS_PER_UI = 6
# During a rollout the old and the new revision of the UI may overlap (service-level max
# instances may be exceeded briefly: https://cloud.google.com/run/docs/configuring/max-instances).
UI_INSTANCES_AT_ROLLOUT = 2


def sql_max_connections(tier: str) -> int:
    """The max_connections Cloud SQL sets for ``tier`` (db-f1-micro, db-g1-small, db-custom-N-MiB)."""
    gib = SQL_SHARED_CORE_GIB.get(tier)
    if gib is None:
        match = re.fullmatch(r"db-custom-\d+-(\d+)", tier)
        if not match:
            raise ValueError(f"unknown Cloud SQL tier {tier!r}")
        gib = int(match[1]) / 1024
    return next(n for floor, n in reversed(SQL_MAX_CONNECTIONS) if gib >= floor)


#: Cloud SQL lets max_connections be raised above its default
#: (https://cloud.google.com/sql/docs/postgres/flags); each connection costs the instance
#: memory, so the stack raises it at most this many times the tier's default, then refuses.
SQL_MAX_CONNECTIONS_RAISE = 2


def connections_needed(backfill_parallelism: int, schedules: int) -> int:
    """Connections the stack may hold at once, reserved ones included: a full backfill
    execution, every schedule's job running, and the UI mid-rollout."""
    runs = backfill_parallelism + schedules
    return (
        runs * CONNECTIONS_PER_RUN
        + UI_INSTANCES_AT_ROLLOUT * CONNECTIONS_PER_UI
        + SQL_RESERVED_CONNECTIONS
    )


def sql_max_connections_flag(tier: str, backfill_parallelism: int, schedules: int) -> int:
    """The max_connections the stack sets: the tier's default, or what the stack needs when
    that is more (at most SQL_MAX_CONNECTIONS_RAISE x the default; config refuses beyond)."""
    return max(sql_max_connections(tier), connections_needed(backfill_parallelism, schedules))


FORBIDDEN_ROLES = ("roles/editor", "roles/owner")
SSL_ONLY_MODES = ("ENCRYPTED_ONLY", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED")
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


def _is_set(props: Mapping[str, Any], key: str) -> bool:
    """Whether `key` carries a value (an unknown one, known only after an update, counts as set);
    an empty string counts as none."""
    if not _has(props, key):
        return False
    try:
        return props[key] not in (None, "")
    except UnknownValueError:
        return True


def _plain_value_set(env: Mapping[str, Any]) -> bool:
    """Whether an env entry carries a literal `value` rather than a secret reference."""
    return _is_set(env, "value")


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
    """Cloud SQL has no public IPv4 address, a private network and no authorized networks."""
    if resource_type != SQL_INSTANCE:
        return []
    ip = _get(_get(props, "settings") or {}, "ipConfiguration") or {}
    problems = []
    if _get(ip, "ipv4Enabled", True) is not False:
        problems.append(
            "Cloud SQL instance has a public IP: set settings.ipConfiguration.ipv4Enabled to false "
            "and connect over the private network."
        )
    if not _is_set(ip, "privateNetwork"):
        problems.append(
            "Cloud SQL instance has no private network: set settings.ipConfiguration."
            "privateNetwork to the VPC so the services reach it over a private IP."
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
    """Buckets use uniform bucket-level access, enforce public access prevention, and no ACLs."""
    if resource_type in ACL_TYPES:
        return [f"{resource_type} manages a storage ACL: grant access with IAM on the bucket."]
    if resource_type != BUCKET:
        return []
    problems = []
    if _get(props, "uniformBucketLevelAccess") is not True:
        problems.append("Bucket allows per-object ACLs: set uniformBucketLevelAccess to true.")
    if _get(props, "publicAccessPrevention") != "enforced":
        problems.append('Bucket can be made public: set publicAccessPrevention to "enforced".')
    return problems


def check_no_public_members(
    resource_type: str, props: Mapping[str, Any], allow_public_ui: bool = False
) -> list[str]:
    """No allUsers/allAuthenticatedUsers anywhere; only the UI's invoker when a public UI is asked.

    A public UI (`uiAccess: public`) is allowed only explicitly: `allow_public_ui`, which the pack
    reads from its `allowPublicUi` config (`pulumi preview --policy-pack-config`).
    """
    public: list[str] = []
    iam = _iam_kind(resource_type)
    if iam:
        public = [
            member
            for role, member in _iam_grants(iam[1], props)
            if member in PUBLIC_MEMBERS
            and not (
                allow_public_ui and resource_type == UI_INVOKER and role == "roles/run.invoker"
            )
        ]
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
    """No service-account or HMAC keys; workloads use their attached identity or WIF."""
    if resource_type not in KEY_TYPES:
        return []
    return [
        f"{resource_type} creates a long-lived key: use the runtime service account on "
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
    # The revision's limit counts per revision: while traffic moves in a rollout the old and the
    # new revision each keep an instance. The service-level one counts all revisions receiving
    # traffic (https://cloud.google.com/run/docs/configuring/max-instances).
    if _get(service_scaling, "maxInstanceCount") != 1:
        problems.append(
            "The Mage UI service has no service-level limit of one instance (during a rollout "
            "the old and the new revision would each run Mage's scheduler): set "
            "scaling.maxInstanceCount to 1."
        )
    for key in ("manualInstanceCount", "minInstanceCount"):
        value = _get(service_scaling, key)
        if value is not None and value > 1:
            problems.append(f"The Mage UI service sets scaling.{key}={value}: use at most 1.")
    return problems


def check_secret_versions_pinned(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Cloud Run reads the secret version the stack created, never ``latest``: a new version
    (a rotated password, a replaced SQL instance) then changes the template, so the service rolls
    a revision and the jobs' next executions read it; with ``latest`` a running instance keeps
    the value it started with (https://cloud.google.com/run/docs/configuring/services/secrets)."""
    problems = []
    for container in _containers(resource_type, props):
        for env in _maps(_get(container, "envs")):
            ref = _get(_get(env, "valueSource") or {}, "secretKeyRef") or {}
            if ref and not re.fullmatch(r"[1-9][0-9]*", str(_get(ref, "version", ""))):
                problems.append(
                    f"Environment variable {_get(env, 'name')} reads secret version "
                    f"{_get(ref, 'version')!r}: pin the version the stack created "
                    "(StoredSecret.ref) so a new value rolls the service and the jobs."
                )
    return problems


def check_runtime_data_scoped(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """The runtime SA gets storage/BigQuery data roles on the bucket/dataset, not the project."""
    if resource_type != PROJECT_MEMBER:
        return []
    role, member = str(_get(props, "role", "")), str(_get(props, "member", ""))
    if "-runtime@" not in member or not RUNTIME_DATA_ROLES.match(role):
        return []
    return [
        f"The runtime account gets {role} on the whole project: grant it on the lake bucket or "
        "the dataset instead."
    ]


def check_wif_one_repository(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Workload Identity providers accept one repository, by immutable id and name, and
    impersonation is granted to exact OIDC subjects, never to every workflow of a repository."""
    if resource_type == WIF_PROVIDER:
        if WIF_CONDITION.match(str(_get(props, "attributeCondition", ""))):
            return []
        return [
            "The Workload Identity provider is not restricted to one repository id and name: "
            "set attributeCondition to assertion.repository_id == '<id>' && "
            "assertion.repository == '<owner>/<repo>' && ...."
        ]
    iam = _iam_kind(resource_type)
    if resource_type != SA_IAM_MEMBER or not iam:
        return []
    return [
        f"{resource_type} lets every workflow matching {member!r} impersonate a service account; "
        "grant one exact subject (principal://.../subject/...)."
        for role, member in _iam_grants(iam[1], props)
        if role == "roles/iam.workloadIdentityUser" and "/subject/" not in member
    ]


def check_no_self_granting(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """No project-wide role that lets an account grant itself more; Project IAM Admin only
    with a condition limiting the roles it may grant
    (https://cloud.google.com/iam/docs/setting-limits-on-granting-roles)."""
    if resource_type != PROJECT_MEMBER:
        return []
    role, member = str(_get(props, "role", "")), str(_get(props, "member", ""))
    if role not in ESCALATING_ROLES:
        return []
    expression = str((_get(props, "condition") or {}).get("expression", ""))
    if role == "roles/resourcemanager.projectIamAdmin" and expression.startswith(LIMITED_GRANTS):
        return []
    return [f"{resource_type} grants {role} on the whole project to {member}."]


def _probe_problems(probe: Mapping[str, Any]) -> list[str]:
    period = _get(probe, "periodSeconds", 10)
    threshold = _get(probe, "failureThreshold", 3)
    out = []
    if period * threshold > STARTUP_PROBE_BUDGET_SECONDS:
        out.append(
            f"The startup probe allows {threshold:g} x {period:g} s = {period * threshold:g} s "
            f"for startup; Cloud Run accepts at most {STARTUP_PROBE_BUDGET_SECONDS} s."
        )
    for key in ("initialDelaySeconds", "periodSeconds"):
        if _get(probe, key, 0) > STARTUP_PROBE_BUDGET_SECONDS:
            out.append(
                f"The startup probe sets {key} {probe[key]:g}; Cloud Run accepts at most 240."
            )
    if _get(probe, "timeoutSeconds", 1) > period:
        out.append(
            f"The startup probe times out after {probe['timeoutSeconds']:g} s, beyond its period."
        )
    return out


def check_startup_probe(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Service startup probes fit Cloud Run's 240 s budget; the UI's is an HTTP probe."""
    if resource_type != RUN_SERVICE:
        return []
    out = []
    for container in _containers(resource_type, props):
        probe = _get(container, "startupProbe")
        if not probe:
            out.append("The Cloud Run service has no startup probe.")
            continue
        out += _probe_problems(probe)
        if not _get(probe, "httpGet"):
            out.append(
                "The startup probe is not HTTP; Mage opens its port before it can answer, so "
                "only an HTTP probe waits for it."
            )
    return out


def check_cpu_memory(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Every Cloud Run container asks for a vCPU/memory pair Cloud Run's table allows."""
    out = []
    for container in _containers(resource_type, props):
        limits = _get(_get(container, "resources") or {}, "limits") or {}
        problem = cpu_memory_problem(_get(limits, "cpu", "1"), _get(limits, "memory", "512Mi"))
        if problem:
            out.append(f"The container asks for a CPU/memory pair Cloud Run refuses: {problem}.")
    return out


Resource = tuple[str, str, Mapping[str, Any]]
StackRule = Callable[[list[Resource]], list[str]]


def _known(props: Mapping[str, Any], key: str) -> str:
    """props[key] as a string, or "" when absent or not known yet (during preview)."""
    try:
        return str(_get(props, key) or "")
    except UnknownValueError:
        return ""


def check_no_stored_secret_in_env(resources: list[Resource]) -> list[str]:
    """No container env value carries a stored secret's value (even under an innocent name)."""
    secret_values = {
        value
        for resource_type, _, props in resources
        for value in (
            _known(props, "secretData") if resource_type == SECRET_VERSION else "",
            _known(props, "result"),  # generated passwords, which may be embedded in a value
        )
        if value
    }
    problems = []
    for resource_type, name, props in resources:
        for container in _containers(resource_type, props):
            for env in _maps(_get(container, "envs")):
                value = _known(env, "value")
                if value and any(secret in value for secret in secret_values):
                    problems.append(
                        f"{name} puts a stored secret's value into env {_get(env, 'name')}: "
                        "reference the secret with valueSource.secretKeyRef instead."
                    )
    return problems


# --- Teardown: what `pulumi destroy` would be refused (it cannot run here) --------------------
SQL_USER = "gcp:sql/user:User"
SQL_DATABASE = "gcp:sql/database:Database"
PEERING = "gcp:servicenetworking/connection:Connection"
SUBNET = "gcp:compute/subnetwork:Subnetwork"
VPC = "gcp:compute/network:Network"
BQ_TABLE = "gcp:bigquery/table:Table"


def teardown_refusals(resources: Iterable[Any]) -> list[str]:
    """One sentence per resource whose deletion GCP (or the provider) would refuse in
    `pulumi destroy`, over planned resources (``.type``, ``.name``, ``.inputs``,
    ``.retain_on_delete``). A stack with deletion protection (prod) is meant to have some; a
    dev stack none. Each refusal is GCP's or the provider's documented behaviour:"""
    out: list[str] = []
    for r in resources:
        props, kept = r.inputs, getattr(r, "retain_on_delete", False)
        if kept:
            continue
        if r.type == BUCKET and not _get(props, "forceDestroy"):
            # A bucket must be empty to be deleted; the stack's buckets never are (the lake's
            # data, the state bucket's project folder and logs, versions included):
            # https://cloud.google.com/storage/docs/deleting-buckets
            out.append(f"{r.name}: a bucket that is not empty is not deleted (forceDestroy).")
        if r.type == SQL_INSTANCE and (
            _get(props, "deletionProtection", True)
            or _get(_get(props, "settings") or {}, "deletionProtectionEnabled")
        ):
            # https://cloud.google.com/sql/docs/postgres/deletion-protection
            out.append(f"{r.name}: the Cloud SQL instance has deletion protection.")
        if r.type in (RUN_SERVICE, RUN_JOB) and _get(props, "deletionProtection", True):
            # https://www.pulumi.com/registry/packages/gcp/api-docs/cloudrunv2/service/
            out.append(f"{r.name}: the Cloud Run resource has deletion protection.")
        if r.type == BQ_TABLE and _get(props, "deletionProtection", True):
            out.append(f"{r.name}: the BigQuery table has deletion protection.")
        if r.type == BQ_DATASET and not _get(props, "deleteContentsOnDestroy"):
            # A dataset with tables in it (ones the pipelines made) is not deleted:
            # https://cloud.google.com/bigquery/docs/managing-datasets#delete-datasets
            out.append(f"{r.name}: a dataset with tables is not deleted (deleteContentsOnDestroy).")
        if r.type in (SQL_USER, SQL_DATABASE) and _get(props, "deletionPolicy") != "ABANDON":
            # Cloud SQL for PostgreSQL refuses to drop a user who owns objects or a database
            # others can reach: https://www.pulumi.com/registry/packages/gcp/api-docs/sql/user/
            out.append(f"{r.name}: PostgreSQL refuses to drop it while objects depend on it.")
        if r.type == PEERING and _get(props, "deletionPolicy") not in ("REMOVE_PEERING",):
            # "Producer services are still using this connection" (pulumi-gcp #3354); ABANDON
            # leaves the peering, which blocks deleting the network:
            # https://www.pulumi.com/registry/packages/gcp/api-docs/servicenetworking/connection/
            out.append(f"{r.name}: the peering is refused while Cloud SQL's side still uses it.")
        if r.type in (SUBNET, VPC):
            # Cloud Run holds a Direct VPC egress subnet's addresses for 1-2 hours after the
            # last revision or execution: https://cloud.google.com/run/docs/configuring/vpc-direct-vpc
            out.append(f"{r.name}: Cloud Run's Direct VPC egress keeps it in use for 1-2 hours.")
    return out


RULES: dict[str, Rule] = {
    "cloudsql-no-public-ip": check_sql_private_ip,
    "cloudsql-ssl-required": check_sql_ssl,
    "cloudsql-backups-and-pitr": check_sql_backups,
    "bucket-uniform-access-and-public-access-prevention": check_bucket_private,
    "no-public-members": check_no_public_members,
    "no-editor-or-owner-roles": check_no_primitive_roles,
    "no-service-account-keys": check_no_service_account_keys,
    "no-plain-secret-env-vars": check_no_plain_secret_env,
    "cloud-run-image-pinned-by-digest": check_image_digest,
    "mage-ui-single-instance": check_single_ui_instance,
    "cloud-run-secret-versions-pinned": check_secret_versions_pinned,
    "runtime-data-roles-scoped": check_runtime_data_scoped,
    "wif-one-repository": check_wif_one_repository,
    "no-self-granting": check_no_self_granting,
    "cloud-run-startup-probe-within-limits": check_startup_probe,
    "cloud-run-cpu-memory-in-table": check_cpu_memory,
}
STACK_RULES: dict[str, StackRule] = {"no-stored-secret-in-env": check_no_stored_secret_in_env}
#: Rules that take the pack's config, as (config key, keyword argument).
RULE_CONFIG = {"no-public-members": ("allowPublicUi", "allow_public_ui")}


def _run(name: str, resource_type: str, props: Mapping[str, Any], allow_public_ui: bool):
    rule = RULES[name]
    if name in RULE_CONFIG:
        return rule(resource_type, props, **{RULE_CONFIG[name][1]: allow_public_ui})
    return rule(resource_type, props)


def violations(
    resource_type: str, props: Mapping[str, Any], allow_public_ui: bool = False
) -> dict[str, list[str]]:
    """Every resource rule's violations for one resource (rules with none are left out)."""
    found = {name: _run(name, resource_type, props, allow_public_ui) for name in RULES}
    return {name: problems for name, problems in found.items() if problems}


def plan_violations(resources: list[Any], allow_public_ui: bool = False) -> dict[str, list[str]]:
    """Every rule's violations over a planned stack (objects with `.type`, `.name`, `.inputs`),
    each sentence prefixed with the resource's name; rules with none are left out."""
    found: dict[str, list[str]] = {}
    for r in resources:
        for name, problems in violations(r.type, r.inputs, allow_public_ui).items():
            found.setdefault(name, []).extend(f"{r.name}: {p}" for p in problems)
    triples = [(r.type, r.name, r.inputs) for r in resources]
    for name, rule in STACK_RULES.items():
        if problems := rule(triples):
            found[name] = problems
    return found

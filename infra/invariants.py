"""Security invariants of a planned stack, as plain functions over its resources.

Each check takes the planned resources (``infra.planned.PlannedResource``, inputs in wire
names as the mocks record them) and returns one sentence per violation; ``[]`` means it holds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from infra.planned import PlannedResource

Check = Callable[[list[PlannedResource]], list[str]]

SQL = "gcp:sql/databaseInstance:DatabaseInstance"
BUCKET = "gcp:storage/bucket:Bucket"
RUN_SERVICE = "gcp:cloudrunv2/service:Service"
RUN_JOB = "gcp:cloudrunv2/job:Job"
SECRET_VERSION = "gcp:secretmanager/secretVersion:SecretVersion"
WIF_PROVIDER = "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider"
PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")
BASIC_ROLES = ("roles/owner", "roles/editor")
SSL_MODES = ("ENCRYPTED_ONLY", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED")
KEY_TYPES = ("gcp:serviceaccount/key:Key", "gcp:storage/hmacKey:HmacKey")
ACL_TYPES = (
    "gcp:storage/bucketACL:BucketACL",
    "gcp:storage/bucketAccessControl:BucketAccessControl",
    "gcp:storage/defaultObjectACL:DefaultObjectACL",
    "gcp:storage/defaultObjectAccessControl:DefaultObjectAccessControl",
    "gcp:storage/objectAccessControl:ObjectAccessControl",
)
UI_INVOKER_TYPES = ("gcp:cloudrunv2/serviceIamMember:ServiceIamMember",)
SECRET_ENV = re.compile(
    r"(^|_)(PASSWORD|PASSWD|SECRET|TOKEN|KEY|CREDENTIALS|CONNECTION_URL|DSN)(_|$)", re.I
)
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
RUNTIME_DATA_ROLES = re.compile(r"^roles/(storage|bigquery)\.(object|data|admin)")


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


def _iam(resources: list[PlannedResource]) -> Iterator[tuple[PlannedResource, str, str]]:
    """(resource, role, member) for every IAM member/binding/policy grant in the plan."""
    import json

    for r in resources:
        kind = r.type.rsplit(":", 1)[-1].lower()
        if "iammember" in kind:
            yield r, r.inputs.get("role", ""), r.inputs.get("member", "")
        elif "iambinding" in kind:
            for member in r.inputs.get("members", []) or []:
                yield r, r.inputs.get("role", ""), member
        elif "iampolicy" in kind:
            data = r.inputs.get("policyData") or "{}"
            for binding in json.loads(data).get("bindings", []) if isinstance(data, str) else []:
                for member in binding.get("members", []):
                    yield r, binding.get("role", ""), member


def _containers(r: PlannedResource) -> list[dict[str, Any]]:
    if r.type == RUN_SERVICE:
        return r.get("template", "containers", default=[]) or []
    if r.type == RUN_JOB:
        return r.get("template", "template", "containers", default=[]) or []
    return []


def sql_private_ip_only(resources: list[PlannedResource]) -> list[str]:
    """Cloud SQL has no public IPv4 and no authorized networks."""
    out = []
    for r in resources:
        if r.type != SQL:
            continue
        ip = r.get("settings", "ipConfiguration", default={}) or {}
        if ip.get("ipv4Enabled") is not False:
            out.append(f"Cloud SQL {r.name} has a public IPv4 address (ipv4Enabled is not false).")
        if not ip.get("privateNetwork"):
            out.append(f"Cloud SQL {r.name} has no private network.")
        if ip.get("authorizedNetworks"):
            out.append(f"Cloud SQL {r.name} allows authorized networks.")
    return out


def sql_ssl_required(resources: list[PlannedResource]) -> list[str]:
    """Cloud SQL only accepts encrypted connections."""
    return [
        f"Cloud SQL {r.name} accepts unencrypted connections (sslMode "
        f"{r.get('settings', 'ipConfiguration', 'sslMode')!r})."
        for r in resources
        if r.type == SQL and r.get("settings", "ipConfiguration", "sslMode") not in SSL_MODES
    ]


def sql_backups_on(resources: list[PlannedResource]) -> list[str]:
    """Automated backups and point-in-time recovery are on."""
    out = []
    for r in resources:
        if r.type != SQL:
            continue
        backup = r.get("settings", "backupConfiguration", default={}) or {}
        if not backup.get("enabled"):
            out.append(f"Cloud SQL {r.name} has automated backups off.")
        if not backup.get("pointInTimeRecoveryEnabled"):
            out.append(f"Cloud SQL {r.name} has point-in-time recovery off.")
    return out


def bucket_private(resources: list[PlannedResource]) -> list[str]:
    """Buckets use uniform access with public access prevention enforced, and no ACLs."""
    out = []
    for r in resources:
        if r.type == BUCKET:
            if r.inputs.get("uniformBucketLevelAccess") is not True:
                out.append(f"Bucket {r.name} does not use uniform bucket-level access.")
            if r.inputs.get("publicAccessPrevention") != "enforced":
                out.append(f"Bucket {r.name} does not enforce public access prevention.")
        elif r.type in ACL_TYPES:
            out.append(f"{r.name} manages a storage ACL; use IAM on the bucket instead.")
    return out


def no_public_members(resources: list[PlannedResource], allow_public_ui: bool = False) -> list[str]:
    """No allUsers/allAuthenticatedUsers anywhere; only the UI invoker when a public UI is asked."""
    out = []
    for r, role, member in _iam(resources):
        if member not in PUBLIC_MEMBERS:
            continue
        if allow_public_ui and r.type in UI_INVOKER_TYPES and role == "roles/run.invoker":
            continue
        out.append(f"{r.name} grants {role} to {member}.")
    return out


def no_basic_roles(resources: list[PlannedResource]) -> list[str]:
    """Nobody gets roles/owner or roles/editor."""
    return [
        f"{r.name} grants the basic role {role} to {member}."
        for r, role, member in _iam(resources)
        if role in BASIC_ROLES
    ]


def no_service_account_keys(resources: list[PlannedResource]) -> list[str]:
    """No service-account or HMAC keys: identities come from ADC and Workload Identity."""
    return [
        f"{r.name} creates a long-lived key ({r.type})." for r in resources if r.type in KEY_TYPES
    ]


def no_plain_secret_env(resources: list[PlannedResource]) -> list[str]:
    """Secrets reach containers by Secret Manager reference, never as plain env values."""
    secret_values = {
        str(r.inputs.get("secretData"))
        for r in resources
        if r.type == SECRET_VERSION and r.inputs.get("secretData")
    }
    secret_values |= {  # generated passwords, which may be embedded in a value
        str(r.inputs.get("result")) for r in resources if r.inputs.get("result")
    }
    out = []
    for r in resources:
        for container in _containers(r):
            for env in container.get("envs", []) or []:
                name, value = env.get("name", ""), env.get("value")
                if value is None:
                    continue
                if SECRET_ENV.search(name):
                    out.append(f"{r.name} sets the secret {name} as a plain env value.")
                elif any(s and s in str(value) for s in secret_values):
                    out.append(f"{r.name} puts a stored secret's value into env {name}.")
    return out


def images_pinned_by_digest(resources: list[PlannedResource]) -> list[str]:
    """Every Cloud Run container image is referenced as ...@sha256:<digest>."""
    return [
        f"{r.name} runs image {c.get('image')!r}, not pinned by digest."
        for r in resources
        for c in _containers(r)
        if not DIGEST.search(str(c.get("image", "")))
    ]


def one_ui_instance(resources: list[PlannedResource]) -> list[str]:
    """The Mage UI service runs at most one instance (one Mage scheduler)."""
    return [
        f"Cloud Run service {r.name} allows "
        f"{r.get('template', 'scaling', 'maxInstanceCount')!r} instances, not 1."
        for r in resources
        if r.type == RUN_SERVICE and r.get("template", "scaling", "maxInstanceCount") != 1
    ]


def runtime_data_scoped(resources: list[PlannedResource]) -> list[str]:
    """The runtime SA gets storage/BigQuery data roles on the bucket/dataset, not the project."""
    return [
        f"{r.name} grants {role} to the runtime account on the whole project."
        for r, role, member in _iam(resources)
        if r.type == "gcp:projects/iAMMember:IAMMember"
        and "-runtime@" in member
        and RUNTIME_DATA_ROLES.match(role)
    ]


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


def wif_restricted(resources: list[PlannedResource]) -> list[str]:
    """Workload Identity providers accept one repository, by immutable id and name, and
    impersonation is granted to exact OIDC subjects, never to every workflow of a repository."""
    out = [
        f"Workload Identity provider {r.name} is not restricted to one repository id and name."
        for r in resources
        if r.type == WIF_PROVIDER
        and not WIF_CONDITION.match(str(r.inputs.get("attributeCondition", "")))
    ]
    out += [
        f"{r.name} lets every workflow matching {member!r} impersonate a service account; "
        "grant one exact subject (principal://.../subject/...)."
        for r, role, member in _iam(resources)
        if role == "roles/iam.workloadIdentityUser" and "/subject/" not in member
    ]
    return out


def no_self_granting(resources: list[PlannedResource]) -> list[str]:
    """No project-wide role that lets an account grant itself more; Project IAM Admin only
    with a condition limiting the roles it may grant
    (https://cloud.google.com/iam/docs/setting-limits-on-granting-roles)."""
    out = []
    for r, role, member in _iam(resources):
        if r.type != "gcp:projects/iAMMember:IAMMember" or role not in ESCALATING_ROLES:
            continue
        expression = str((r.inputs.get("condition") or {}).get("expression", ""))
        if role == "roles/resourcemanager.projectIamAdmin" and expression.startswith(
            LIMITED_GRANTS
        ):
            continue
        out.append(f"{r.name} grants {role} on the whole project to {member}.")
    return out


def _probe_problems(where: str, probe: dict[str, Any]) -> list[str]:
    period = probe.get("periodSeconds", 10)
    threshold = probe.get("failureThreshold", 3)
    out = []
    if period * threshold > STARTUP_PROBE_BUDGET_SECONDS:
        out.append(
            f"{where} allows {threshold:g} x {period:g} s = {period * threshold:g} s for startup; "
            f"Cloud Run accepts at most {STARTUP_PROBE_BUDGET_SECONDS} s."
        )
    for key in ("initialDelaySeconds", "periodSeconds"):
        if probe.get(key, 0) > STARTUP_PROBE_BUDGET_SECONDS:
            out.append(f"{where} sets {key} {probe[key]:g}; Cloud Run accepts at most 240.")
    if probe.get("timeoutSeconds", 1) > period:
        out.append(f"{where} times out after {probe['timeoutSeconds']:g} s, beyond its period.")
    return out


def startup_probe_within_cloud_run_limits(resources: list[PlannedResource]) -> list[str]:
    """Service startup probes fit Cloud Run's 240 s budget; the UI's is an HTTP probe."""
    out = []
    for r in resources:
        if r.type != RUN_SERVICE:
            continue
        for container in _containers(r):
            probe = container.get("startupProbe")
            if not probe:
                out.append(f"Cloud Run service {r.name} has no startup probe.")
                continue
            out += _probe_problems(f"The startup probe of {r.name}", probe)
            if not probe.get("httpGet"):
                out.append(
                    f"The startup probe of {r.name} is not HTTP; Mage opens its port before "
                    "it can answer, so only an HTTP probe waits for it."
                )
    return out


def run_cpu_memory_in_table(resources: list[PlannedResource]) -> list[str]:
    """Every Cloud Run container asks for a vCPU/memory pair Cloud Run's table allows."""
    out = []
    for r in resources:
        for container in _containers(r):
            limits = container.get("resources", {}).get("limits", {}) or {}
            problem = cpu_memory_problem(limits.get("cpu", "1"), limits.get("memory", "512Mi"))
            if problem:
                out.append(f"{r.name} asks for a CPU/memory pair Cloud Run refuses: {problem}.")
    return out


CHECKS: dict[str, Check] = {
    "sql_private_ip_only": sql_private_ip_only,
    "sql_ssl_required": sql_ssl_required,
    "sql_backups_on": sql_backups_on,
    "bucket_private": bucket_private,
    "no_public_members": no_public_members,
    "no_basic_roles": no_basic_roles,
    "no_service_account_keys": no_service_account_keys,
    "no_plain_secret_env": no_plain_secret_env,
    "images_pinned_by_digest": images_pinned_by_digest,
    "one_ui_instance": one_ui_instance,
    "runtime_data_scoped": runtime_data_scoped,
    "wif_restricted": wif_restricted,
    "no_self_granting": no_self_granting,
    "startup_probe_within_cloud_run_limits": startup_probe_within_cloud_run_limits,
    "run_cpu_memory_in_table": run_cpu_memory_in_table,
}


def violations(
    resources: list[PlannedResource], allow_public_ui: bool = False
) -> dict[str, list[str]]:
    """Every check's violations (only checks that found some)."""
    found = {}
    for name, check in CHECKS.items():
        result = (
            no_public_members(resources, allow_public_ui)
            if check is no_public_members
            else check(resources)
        )
        if result:
            found[name] = result
    return found

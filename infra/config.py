"""Typed, validated stack configuration.

Every setting comes from the stack's config (``Pulumi.<stack>.yaml`` or ``pulumi config set``):
``gcp:project`` and ``gcp:region`` from the provider namespace, the rest under ``mage-gcp:``.
A bad value raises :class:`ConfigError` with one sentence naming the key and what is allowed.
"""

from __future__ import annotations

import json
import re
import zoneinfo
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml
from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo

from infra.policy.policy_rules import (
    CONNECTIONS_PER_RUN,
    CPU_MEMORY_MIB,
    SQL_MAX_CONNECTIONS_RAISE,
    connections_needed,
    cpu_memory_problem,
    sql_max_connections,
    sql_max_connections_flag,
)
from mage_project.utils.image_contract import DEFAULT_TAXI_DATA_BASE_URL, PROJECT_DIR

NAMESPACE = "mage-gcp"
PIPELINES_DIR = PROJECT_DIR / "pipelines"

_MEMBER = re.compile(r"^(user|group|domain|serviceAccount|principal|principalSet):\S+$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CRON_FIELD = r"[\d*/,\-A-Za-z]+"
# Cloud Scheduler takes unix-cron: five fields, names such as MON-FRI or JAN allowed
# (https://cloud.google.com/scheduler/docs/configuring/cron-job-schedules).
_CRON = re.compile(rf"^{_CRON_FIELD}( {_CRON_FIELD}){{4}}$")
CPUS = Literal["1", "2", "4", "6", "8"]


class ConfigError(ValueError):
    """A stack config value is missing or not allowed."""


def setting(default: Any = ..., allowed: str = "", **rules: Any) -> Any:
    """One stack setting, written once: its default, what is allowed (the sentence errors and
    docs/configuration.md show) and the rules pydantic checks (``pattern``, ``ge``, ...)."""
    return Field(default, description=allowed, **rules)


def listed(factory: Any, allowed: str) -> Any:
    """A list setting (given as JSON/YAML structure): its default factory and what is allowed."""
    return Field(default_factory=factory, description=allowed)


class Group(BaseModel):
    """A group of settings a component takes whole; a setting's key is the group's name and
    the field's, in camelCase (``sql`` + ``disk_gb`` -> ``mage-gcp:sqlDiskGb``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Schedule(BaseModel):
    """A pipeline run by Cloud Scheduler through its own Cloud Run job."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    pipeline: str = Field(pattern=r"^[a-z][a-z0-9_]{0,40}$")
    cron: str = "0 5 * * *"
    time_zone: str = Field("Etc/UTC", alias="timeZone")
    variables: dict[str, str | int | float | bool] = Field(default_factory=dict)


class Sql(Group):
    """Cloud SQL (the Database component)."""

    tier: str = setting(
        "db-f1-micro",
        "db-f1-micro, db-g1-small or db-custom-<vCPUs>-<MiB>",
        pattern=r"^(db-f1-micro|db-g1-small|db-custom-\d{1,2}-\d{3,6})$",
    )
    disk_gb: int = setting(10, "an integer from {ge} to {le}", ge=10, le=2000)
    disk_type: Literal["PD_SSD", "PD_HDD"] = setting("PD_SSD", "{choices}")
    availability: Literal["ZONAL", "REGIONAL"] = setting("ZONAL", "{choices}")
    ssl_mode: Literal["ENCRYPTED_ONLY", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"] = setting(
        "ENCRYPTED_ONLY", "{choices}"
    )
    # Cloud SQL refuses "backup retention should be > transaction log retention" (400), and
    # recommends one more backup than log days (https://cloud.google.com/sql/docs/postgres/backup-recovery/pitr).
    backup_count: int = setting(8, "an integer from {ge} to {le}", ge=1, le=365)
    log_retention_days: int = setting(7, "an integer from {ge} to {le}", ge=1, le=7)


class Resources(Group):
    """A Cloud Run container's size (the UI service: ``service``)."""

    cpu: CPUS = setting("1", f"{', '.join(CPU_MEMORY_MIB)} (vCPUs)")
    memory: str = setting("2Gi", "a size such as 512Mi or 2Gi", pattern=r"^[1-9][0-9]*(Mi|Gi)$")


class JobResources(Resources):
    """The pipeline jobs' and backfill tasks' size and time limit (``job``)."""

    timeout_minutes: int = setting(60, "an integer from {ge} to {le}", ge=1, le=1440)


class Ui(Group):
    """Who reaches the hosted UI and what happens to edits made in it (MageService)."""

    # iap: IAP with Google's managed OAuth client, which admits only users of the project's
    # organization, or -- in a project without one -- with a custom OAuth client (iapOauth);
    # authenticated: run.invoker per member, reached with `gcloud run services proxy` (any
    # Google account, no organization needed); public: allUsers. Mage's own login is required
    # in every mode (docs/ui-access.md).
    access: Literal["iap", "authenticated", "public"] = setting("iap", "{choices}")
    members: list[str] = listed(
        list, "a list of IAM members such as user:ana@example.com or group:data@example.com"
    )
    # What happens to code edited in the hosted UI (docs/hosted-ui.md): "persist" keeps the
    # project on a Cloud Storage volume (dev), "refuse" serves the image's code read-only (prod).
    edits: Literal["persist", "refuse"] = setting(
        "persist",
        "'persist' (UI edits kept on a Cloud Storage volume) or 'refuse' (code only from git)",
    )

    @property
    def iap(self) -> bool:
        """The UI sits behind Identity-Aware Proxy."""
        return self.access == "iap"

    @property
    def public(self) -> bool:
        """allUsers may invoke the UI (Mage's login still asked); the policy pack allows it."""
        return self.access == "public"

    @property
    def persist_edits(self) -> bool:
        """UI edits are kept on the state bucket's project volume (dev)."""
        return self.edits == "persist"

    @field_validator("members")
    @classmethod
    def _members(cls, value: list[str]) -> list[str]:
        for member in value:
            if not _MEMBER.match(member):
                raise ValueError(
                    "IAM members such as 'user:ana@example.com' or 'group:data@example.com' "
                    "(allUsers/allAuthenticatedUsers are only granted by uiAccess=public)"
                )
        return value


class IapOauth(Group):
    """A custom OAuth client for IAP, made by the user in the console (docs/deploy.md): its id,
    and the Secret Manager secret holding its client secret (never the secret itself). IAP with
    a custom client admits users outside an organization, so projects without one can use IAP
    (https://cloud.google.com/iap/docs/custom-oauth-configuration)."""

    client_id: str | None = setting(
        None,
        "a custom OAuth client's id (<number>-<id>.apps.googleusercontent.com)",
        pattern=r"^[0-9]+-[a-z0-9]+\.apps\.googleusercontent\.com$",
    )
    client_secret_id: str | None = setting(
        None,
        "the Secret Manager secret id holding that client's secret",
        pattern=r"^[A-Za-z0-9_-]{1,255}$",
    )


class Bigquery(Group):
    """The BigQuery dataset (the Warehouse component)."""

    dataset: str = setting(
        "ny_taxi", "letters, digits and underscores", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,1023}$"
    )
    location: str | None = setting(None, "a BigQuery location such as US (default gcp:region)")


class Lake(Group):
    """The lake bucket (the Storage component) and its size for the cost estimate."""

    versioning: bool = setting(False, "true or false")
    delete_after_days: int = setting(
        0, "a number of days (0 keeps objects forever)", ge=0, le=36500
    )
    expected_gb: float = setting(1.0, "a number of GB (for the cost estimate)", ge=0)


class Github(Group):
    """The GitHub repository CI deploys from (the CiIdentity component)."""

    repository: str | None = setting(
        None, "a GitHub repository as owner/name", pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"
    )
    # GitHub's immutable repository id (the OIDC token's repository_id claim): a repository
    # deleted and re-created under the same name gets a new one.
    repository_id: str | None = setting(
        None,
        "the repository's numeric id (`gh api repos/<owner>/<name> --jq .id`)",
        pattern=r"^[1-9][0-9]{0,19}$",
    )


class StackConfig(BaseModel):
    """All settings of one stack, with the cheap, private defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    project: str = setting(
        ...,
        "a GCP project id (6-30 lowercase letters, digits, hyphens)",
        pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$",
    )
    # Region names end in one or two digits (europe-west10, europe-west12).
    region: str = setting(
        "us-central1", "a GCP region such as us-central1", pattern=r"^[a-z]+-[a-z]+[0-9]{1,2}$"
    )
    name_prefix: str = setting(
        "mage",
        "2-12 lowercase letters, digits or hyphens",
        pattern=r"^[a-z][a-z0-9-]{0,10}[a-z0-9]$",
    )
    mode: Literal["cost", "always-on"] = setting("cost", "'cost' (scale to zero) or 'always-on'")
    sql: Sql = Field(default_factory=Sql)
    deletion_protection: bool = setting(True, "true or false")
    service: Resources = Field(default_factory=Resources)
    job: JobResources = Field(default_factory=JobResources)
    # Tasks of one backfill execution that run at once (Cloud Run job ``parallelism``).
    backfill_parallelism: int = setting(4, "an integer from {ge} to {le}", ge=1, le=100)
    expected_run_minutes: float = setting(10, "a number of minutes above 0", gt=0, le=1440)
    ui: Ui = Field(default_factory=Ui)
    iap_oauth: IapOauth = Field(default_factory=IapOauth)
    project_in_organization: bool | None = setting(
        None, "true if the project belongs to an organization, else false"
    )
    owner_email: str = setting(
        "owner@example.com", "an e-mail address for Mage's owner account", pattern=_EMAIL.pattern
    )
    schedules: list[Schedule] = listed(
        lambda: [Schedule(pipeline="green_taxi_etl", cron="0 5 * * *")],
        "a list of {pipeline, cron, timeZone, variables} with each pipeline once",
    )
    taxi_data_base_url: str = setting(
        DEFAULT_TAXI_DATA_BASE_URL,
        "an https:// URL",
        pattern=r"^https://\S+$",
    )
    bigquery: Bigquery = Field(default_factory=Bigquery)
    lake: Lake = Field(default_factory=Lake)
    # Mage's run logs and block outputs in the state bucket, deleted after these many days.
    log_retention_days: int = setting(30, "a number of days from {ge} to {le}", ge=1, le=3650)
    variables_retention_days: int = setting(7, "a number of days from {ge} to {le}", ge=1, le=3650)
    github: Github = Field(default_factory=Github)
    # The Pulumi state bucket (scripts/bootstrap), which the CI preview account may read.
    pulumi_state_bucket: str | None = setting(
        None,
        "the Pulumi state bucket's name (default <project>-pulumi-state)",
        pattern=r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$",
    )
    alert_emails: list[str] = listed(list, "a list of e-mail addresses")

    @field_validator("alert_emails")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        for email in value:
            if not _EMAIL.match(email):
                raise ValueError("a list of e-mail addresses")
        return value

    @model_validator(mode="after")
    def _unique_pipelines(self) -> StackConfig:
        names = [s.pipeline for s in self.schedules]
        if len(names) != len(set(names)):
            raise ValueError("schedules lists a pipeline twice; schedule each pipeline once")
        return self

    @model_validator(mode="after")
    def _schedules_gcp_accepts(self) -> StackConfig:
        for s in self.schedules:
            if s.pipeline not in project_pipelines():
                raise ValueError(
                    f"schedules names the pipeline {s.pipeline}, which is not in "
                    f"mage_project/pipelines; use one of {', '.join(sorted(project_pipelines()))}"
                )
            if not (_CRON.match(s.cron) and croniter.is_valid(s.cron)):
                raise ValueError(
                    f"schedules gives {s.pipeline} the cron {s.cron!r}, which is not valid "
                    "unix-cron; use five fields such as '0 5 * * *' or '0 5 * * MON-FRI'"
                )
            if s.time_zone not in zoneinfo.available_timezones():
                raise ValueError(
                    f"schedules gives {s.pipeline} the time zone {s.time_zone!r}, which is "
                    "not a tz database name; use one such as Etc/UTC or Europe/Berlin"
                )
        return self

    @model_validator(mode="after")
    def _cloud_run_sizes(self) -> StackConfig:
        for what, cpu, memory in (
            ("service", self.service.cpu, self.service.memory),
            ("job", self.job.cpu, self.job.memory),
        ):
            problem = cpu_memory_problem(cpu, memory)
            if problem:
                raise ValueError(
                    f"{what}Cpu {cpu} with {what}Memory {memory} is refused by Cloud Run "
                    f"({problem}); pick a pair from https://cloud.google.com/run/docs/"
                    "configuring/services/cpu"
                )
        return self

    @model_validator(mode="after")
    def _sql_custom_tier(self) -> StackConfig:
        # Custom machine types: 1 or an even number of vCPUs up to 96; memory a multiple of
        # 256 MiB, 0.9 to 6.5 GB per vCPU and at least 3840 MiB
        # (https://cloud.google.com/sql/docs/postgres/create-instance#machine-types).
        match = re.fullmatch(r"db-custom-(\d+)-(\d+)", self.sql.tier)
        if not match:
            return self
        cpus, mib = int(match[1]), int(match[2])
        if not (
            (cpus == 1 or (cpus % 2 == 0 and 2 <= cpus <= 96))
            and mib % 256 == 0
            and mib >= 3840
            and 0.9 * 1024 * cpus <= mib <= 6.5 * 1024 * cpus
        ):
            raise ValueError(
                f"sqlTier {self.sql.tier} is not a Cloud SQL custom machine type (1 or an even "
                "number of vCPUs up to 96, memory a multiple of 256 MiB, at least 3840 MiB and "
                "0.9-6.5 GiB per vCPU); use one such as db-custom-1-3840 or db-custom-2-7680"
            )
        return self

    @model_validator(mode="after")
    def _connection_budget(self) -> StackConfig:
        # Every run (a backfill task, a scheduled job) and the UI hold Cloud SQL connections;
        # the tier caps them (infra/policy/policy_rules.py, docs/configuration.md).
        if not re.fullmatch(r"db-(f1-micro|g1-small|custom-\d+-\d+)", self.sql.tier):
            return self
        schedules = len(self.schedules)
        need = connections_needed(self.backfill_parallelism, schedules)
        most = SQL_MAX_CONNECTIONS_RAISE * sql_max_connections(self.sql.tier)
        if need <= most:
            return self
        fits = max(0, (most - connections_needed(0, schedules)) // CONNECTIONS_PER_RUN)
        raise ValueError(
            f"backfillParallelism {self.backfill_parallelism} needs about {need} Cloud SQL "
            f"connections with the UI and {schedules} schedule(s), more than sqlTier "
            f"{self.sql.tier} can hold ({most}); use backfillParallelism {fits} or less, or a "
            "larger sqlTier such as db-custom-1-3840"
        )

    @property
    def sql_max_connections(self) -> int:
        """The max_connections flag the stack sets on Cloud SQL (the tier's default or more)."""
        return sql_max_connections_flag(
            self.sql.tier, self.backfill_parallelism, len(self.schedules)
        )

    @model_validator(mode="after")
    def _sql_retention(self) -> StackConfig:
        if self.sql.backup_count <= self.sql.log_retention_days:
            raise ValueError(
                f"sqlBackupCount {self.sql.backup_count} is not above sqlLogRetentionDays "
                f"{self.sql.log_retention_days}, which Cloud SQL refuses; keep at least "
                f"{self.sql.log_retention_days + 1} backups or fewer log days"
            )
        return self

    @model_validator(mode="after")
    def _ci_identity(self) -> StackConfig:
        if not self.github.repository:
            return self
        if self.wif_pool_id.startswith("gcp-"):
            raise ValueError(
                f"namePrefix {self.name_prefix} would name the Workload Identity pool "
                f"{self.wif_pool_id}, and Google reserves the prefix gcp-; choose another prefix"
            )
        if not self.github.repository_id:
            raise ValueError(
                "githubRepositoryId is missing while githubRepository is set; CI trust is bound "
                "to the repository's immutable id, so set it to the number that `gh api "
                f"repos/{self.github.repository} --jq .id` prints"
            )
        return self

    @model_validator(mode="after")
    def _iap_oauth_client(self) -> StackConfig:
        given = [self.iap_oauth.client_id, self.iap_oauth.client_secret_id]
        if any(given) and not all(given):
            missing = "iapOauthClientSecretId" if self.iap_oauth.client_id else "iapOauthClientId"
            raise ValueError(
                f"{missing} is missing while the other iapOauthClient key is set; IAP's custom "
                "OAuth client needs both its id and the Secret Manager secret holding its "
                "client secret, so set both or neither (docs/deploy.md)"
            )
        if any(given) and not self.iap:
            raise ValueError(
                f"iapOauthClientId is set while uiAccess is {self.ui.access}; the custom OAuth "
                "client is IAP's, so set uiAccess to iap or remove both iapOauthClient keys"
            )
        return self

    @model_validator(mode="after")
    def _ui_access_reachable(self) -> StackConfig:
        if not self.iap or self.project_in_organization or self.iap_custom_oauth:
            return self
        if self.project_in_organization is None:
            raise ValueError(
                "projectInOrganization is not set while uiAccess is iap; IAP with Google's "
                "managed OAuth client admits only users of the project's organization, so set "
                "it to true if the project has one, else false with uiAccess authenticated or "
                "with IAP's custom OAuth client (docs/ui-access.md)"
            )
        raise ValueError(
            "uiAccess iap cannot admit anyone in a project without an organization with "
            "Google's managed OAuth client (it admits only the organization's users); set "
            "iapOauthClientId and iapOauthClientSecretId to a custom OAuth client "
            "(docs/deploy.md), or set uiAccess to authenticated and open the UI with `gcloud run "
            "services proxy` (docs/ui-access.md)"
        )

    @property
    def iap(self) -> bool:
        """The UI sits behind Identity-Aware Proxy."""
        return self.ui.iap

    @property
    def iap_custom_oauth(self) -> bool:
        """IAP signs users in with the stack's custom OAuth client (no organization needed)."""
        return self.iap and self.iap_oauth.client_id is not None

    @property
    def public_ui(self) -> bool:
        """allUsers may invoke the UI; the policy pack allows it (policy_flags)."""
        return self.ui.public

    @property
    def always_on(self) -> bool:
        """Mage stays up (min one instance, its own scheduler) instead of scaling to zero."""
        return self.mode == "always-on"

    @property
    def teardown(self) -> bool:
        """Without deletion protection (dev) `pulumi destroy` tears the stack down in one go:
        buckets are emptied, the network is left for later (docs/deploy.md, "Tear down")."""
        return not self.deletion_protection

    @property
    def dataset_location(self) -> str:
        return self.bigquery.location or self.region

    @property
    def state_bucket(self) -> str:
        """The state bucket, by default the one scripts/bootstrap creates."""
        return self.pulumi_state_bucket or f"{self.project}-pulumi-state"

    @property
    def wif_pool_id(self) -> str:
        """The Workload Identity pool id (4-32 of a-z0-9-, not starting with gcp-:
        https://cloud.google.com/iam/docs/reference/rest/v1/projects.locations.workloadIdentityPools/create)."""
        return f"{self.name_prefix}-github"


@cache
def project_pipelines() -> frozenset[str]:
    """The Mage pipelines of mage_project/ (each a folder with a metadata.yaml)."""
    return frozenset(p.parent.name for p in PIPELINES_DIR.glob("*/metadata.yaml"))


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.capitalize() for word in rest)


@dataclass(frozen=True)
class Key:
    """One config key: where its value lives in the tree (``("sql", "tier")``) and its field."""

    key: str
    path: tuple[str, ...]
    info: FieldInfo

    @property
    def allowed(self) -> str:
        """What is allowed, in words: the field's description with ``{choices}`` (a Literal's
        values) and ``{ge}``/``{le}``/``{gt}`` (its bounds) filled in from the field itself."""
        bounds = {
            name: getattr(rule, name)
            for rule in self.info.metadata
            for name in ("ge", "le", "gt")
            if hasattr(rule, name)
        }
        choices = [str(c) for c in get_args(self.info.annotation)]
        listed = ", ".join(choices[:-1]) + f" or {choices[-1]}" if len(choices) > 1 else ""
        text = (self.info.description or "").replace("{choices}", listed)
        for name, value in bounds.items():
            text = text.replace(f"{{{name}}}", f"{value:g}")
        return text

    @property
    def structured(self) -> bool:
        """Given as JSON/YAML structure (a list) rather than a scalar."""
        return get_origin(self.info.annotation) is list

    @property
    def boolean(self) -> bool:
        return self.info.annotation is bool

    @property
    def default(self) -> Any:
        return self.info.get_default(call_default_factory=True)


def _keys(model: type[BaseModel] = StackConfig, path: tuple[str, ...] = ()) -> Iterator[Key]:
    """Every setting of the tree, as its config key: a field's name in camelCase under mage-gcp:
    (a group's fields prefixed with the group's name), gcp:project and gcp:region under gcp:."""
    for name, info in model.model_fields.items():
        if isinstance(info.annotation, type) and issubclass(info.annotation, Group):
            yield from _keys(info.annotation, (*path, name))
            continue
        where = (*path, name)
        namespace = "gcp" if where in (("project",), ("region",)) else NAMESPACE
        yield Key(f"{namespace}:{_camel('_'.join(where))}", where, info)


#: Config key -> the setting, in the tree's order.
KEYS: dict[str, Key] = {k.key: k for k in _keys()}
_PATH_TO_KEY = {k.path: k.key for k in KEYS.values()}


def config_key(*path: str) -> str:
    """``("sql", "disk_gb")`` -> ``mage-gcp:sqlDiskGb``; ``("project",)`` -> ``gcp:project``."""
    return _PATH_TO_KEY[tuple(path)]


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        items = [v.model_dump(by_alias=True) if isinstance(v, BaseModel) else v for v in value]
        return json.dumps(items, separators=(", ", ": "))
    return str(value)


def docs_table() -> str:
    """The stack config table of docs/configuration.md, from the fields."""
    lines = ["| key | default | allowed |", "|---|---|---|"]
    for k in KEYS.values():
        shown = _shown(k.default)
        default = "required" if k.info.is_required() else f"`{shown}`" if shown != "—" else shown
        lines.append(f"| `{k.key}` | {default} | {k.allowed.replace('|', '/')} |")
    return "\n".join(lines)


def _decode(k: Key, raw: Any) -> Any:
    """Turn a config string (as the Pulumi CLI passes it) into a Python value."""
    if not isinstance(raw, str):
        return raw
    if k.structured:
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            raise ConfigError(
                f"Stack config {k.key} is not valid JSON/YAML structure: use {k.allowed}."
            ) from None
    if raw.lower() in ("true", "false") and k.boolean:
        return raw.lower() == "true"
    return raw


def _tree(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Flat config keys -> the nested values StackConfig takes."""
    tree: dict[str, Any] = {}
    for key, k in KEYS.items():
        if key in raw:
            node = tree
            for step in k.path[:-1]:
                node = node.setdefault(step, {})
            node[k.path[-1]] = _decode(k, raw[key])
    return tree


def _key_of(loc: tuple) -> str | None:
    """The config key of a validation error's location (the longest path that is a key)."""
    for n in range(len(loc), 0, -1):
        if tuple(loc[:n]) in _PATH_TO_KEY:
            return _PATH_TO_KEY[tuple(loc[:n])]
    return None


def parse(raw: Mapping[str, Any]) -> StackConfig:
    """Validate raw config (``{"mage-gcp:sqlTier": "db-f1-micro", ...}``) into a StackConfig."""
    unknown = sorted(key for key in raw if key.startswith(f"{NAMESPACE}:") and key not in KEYS)
    if unknown:
        known = ", ".join(k for k in KEYS if k.startswith(f"{NAMESPACE}:"))
        raise ConfigError(f"Unknown stack config key {unknown[0]}: the known keys are {known}.")
    if raw.get("gcp:project") in (None, ""):
        raise ConfigError(
            "Stack config gcp:project is missing: set it with `pulumi config set gcp:project <id>`."
        )
    try:
        return StackConfig(**_tree(raw))
    except ValidationError as exc:
        error = exc.errors()[0]
        key = _key_of(tuple(error["loc"]))
        if key is None:  # a rule across fields: its message names the key itself
            message = str(error["msg"]).removeprefix("Value error, ")
            raise ConfigError(f"Stack config {NAMESPACE}:{message}.") from None
        raise ConfigError(
            f"Stack config {key} = {raw.get(key, '')!r} is not allowed: use {KEYS[key].allowed} "
            f"(`pulumi config set {key} <value>`)."
        ) from None


def load(stack_file: Path) -> StackConfig:
    """The config of a committed stack file (``Pulumi.<stack>.yaml``), as the CLI passes it."""
    raw = (yaml.safe_load(stack_file.read_text()) or {}).get("config") or {}
    return parse({k: v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()})


def ui_settings(raw: Mapping[str, Any]) -> Ui:
    """The ``ui`` group of raw config on its own, with the fields' defaults (scripts/deploy_check.py
    reads it before the whole stack config is checked)."""
    return Ui(**_tree({k: v for k, v in raw.items() if k in KEYS}).get("ui", {}))


def policy_flags(cfg: StackConfig) -> dict[str, bool]:
    """The policy pack's rule arguments (policy_rules.RULE_CONFIG), derived from the config."""
    return {"allow_public_ui": cfg.public_ui}


def from_pulumi() -> StackConfig:
    """Read and validate the running stack's config."""
    from pulumi.runtime import config as runtime_config

    raw: dict[str, Any] = dict(runtime_config.get_config_env())
    raw.update(runtime_config.CONFIG.get())
    for key in KEYS:
        value = runtime_config.get_config(key)
        if value is not None:
            raw[key] = value
    return parse({k: v for k, v in raw.items() if k in KEYS or k.startswith(f"{NAMESPACE}:")})

"""Typed, validated stack configuration.

Every setting comes from the stack's config (``Pulumi.<stack>.yaml`` or ``pulumi config set``):
``gcp:project`` and ``gcp:region`` from the provider namespace, the rest under ``mage-gcp:``.
A bad value raises :class:`ConfigError` with one sentence naming the key and what is allowed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

NAMESPACE = "mage-gcp"

_MEMBER = re.compile(r"^(user|group|domain|serviceAccount|principal|principalSet):\S+$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CRON_FIELD = r"[\d*/,\-A-Za-z]+"
_CRON = re.compile(rf"^{_CRON_FIELD}( {_CRON_FIELD}){{4}}$")


class ConfigError(ValueError):
    """A stack config value is missing or not allowed."""


class Schedule(BaseModel):
    """A pipeline run by Cloud Scheduler through its own Cloud Run job."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    pipeline: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,40}$")]
    cron: str = "0 5 * * *"
    time_zone: str = Field("Etc/UTC", alias="timeZone")
    variables: dict[str, str | int | float | bool] = Field(default_factory=dict)

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        if not _CRON.match(value):
            raise ValueError("a five-field cron expression such as '0 5 * * *'")
        return value


class StackConfig(BaseModel):
    """All settings of one stack, with the cheap, private defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    project: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")]
    region: Annotated[str, Field(pattern=r"^[a-z]+-[a-z]+[0-9]$")] = "us-central1"
    name_prefix: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,10}[a-z0-9]$")] = "mage"
    mode: Literal["cost", "always-on"] = "cost"
    # Cloud SQL
    sql_tier: Annotated[
        str, Field(pattern=r"^(db-f1-micro|db-g1-small|db-custom-\d{1,2}-\d{3,6})$")
    ] = "db-f1-micro"
    sql_disk_gb: Annotated[int, Field(ge=10, le=2000)] = 10
    sql_disk_type: Literal["PD_SSD", "PD_HDD"] = "PD_SSD"
    sql_availability: Literal["ZONAL", "REGIONAL"] = "ZONAL"
    sql_ssl_mode: Literal["ENCRYPTED_ONLY", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"] = (
        "ENCRYPTED_ONLY"
    )
    sql_backup_count: Annotated[int, Field(ge=1, le=365)] = 7
    sql_log_retention_days: Annotated[int, Field(ge=1, le=7)] = 7
    deletion_protection: bool = True
    # Cloud Run
    service_cpu: Literal["1", "2", "4"] = "1"
    service_memory: Annotated[str, Field(pattern=r"^[1-9][0-9]*Gi$")] = "2Gi"
    job_cpu: Literal["1", "2", "4"] = "1"
    job_memory: Annotated[str, Field(pattern=r"^[1-9][0-9]*Gi$")] = "2Gi"
    job_timeout_minutes: Annotated[int, Field(ge=1, le=1440)] = 60
    expected_run_minutes: Annotated[float, Field(gt=0, le=1440)] = 10
    ui_access: Literal["iap", "authenticated", "public"] = "iap"
    # What happens to code edited in the hosted UI (docs/hosted-ui.md): "persist" keeps the
    # project on a Cloud Storage volume (dev), "refuse" serves the image's code read-only (prod).
    ui_edits: Literal["persist", "refuse"] = "persist"
    ui_members: list[str] = Field(default_factory=list)
    owner_email: Annotated[str, Field(pattern=_EMAIL.pattern)] = "owner@example.com"
    schedules: list[Schedule] = Field(
        default_factory=lambda: [Schedule(pipeline="green_taxi_etl", cron="0 5 * * *")]
    )
    taxi_data_base_url: Annotated[str, Field(pattern=r"^https://\S+$")] = (
        "https://github.com/DataTalksClub/nyc-tlc-data/releases/download"
    )
    # Data
    bigquery_dataset: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,1023}$")] = "ny_taxi"
    bigquery_location: str | None = None
    lake_versioning: bool = False
    lake_delete_after_days: Annotated[int, Field(ge=0, le=36500)] = 0
    lake_expected_gb: Annotated[float, Field(ge=0)] = 1.0
    # Mage's run logs and block outputs in the state bucket, deleted after these many days.
    log_retention_days: Annotated[int, Field(ge=1, le=3650)] = 30
    variables_retention_days: Annotated[int, Field(ge=1, le=3650)] = 7
    # CI and alerting
    github_repository: Annotated[
        str | None, Field(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
    ] = None
    alert_emails: list[str] = Field(default_factory=list)

    @field_validator("ui_members")
    @classmethod
    def _members(cls, value: list[str]) -> list[str]:
        for member in value:
            if not _MEMBER.match(member):
                raise ValueError(
                    "IAM members such as 'user:ana@example.com' or 'group:data@example.com' "
                    "(allUsers/allAuthenticatedUsers are only granted by uiAccess=public)"
                )
        return value

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

    @property
    def always_on(self) -> bool:
        return self.mode == "always-on"

    @property
    def dataset_location(self) -> str:
        return self.bigquery_location or self.region


# Config key -> (model field, what is allowed), used both to read values and to word errors.
KEYS: dict[str, tuple[str, str]] = {
    "gcp:project": ("project", "a GCP project id (6-30 lowercase letters, digits, hyphens)"),
    "gcp:region": ("region", "a GCP region such as us-central1"),
    f"{NAMESPACE}:namePrefix": ("name_prefix", "2-12 lowercase letters, digits or hyphens"),
    f"{NAMESPACE}:mode": ("mode", "'cost' (scale to zero) or 'always-on'"),
    f"{NAMESPACE}:sqlTier": ("sql_tier", "db-f1-micro, db-g1-small or db-custom-<vCPUs>-<MiB>"),
    f"{NAMESPACE}:sqlDiskGb": ("sql_disk_gb", "an integer from 10 to 2000"),
    f"{NAMESPACE}:sqlDiskType": ("sql_disk_type", "PD_SSD or PD_HDD"),
    f"{NAMESPACE}:sqlAvailability": ("sql_availability", "ZONAL or REGIONAL"),
    f"{NAMESPACE}:sqlSslMode": (
        "sql_ssl_mode",
        "ENCRYPTED_ONLY or TRUSTED_CLIENT_CERTIFICATE_REQUIRED",
    ),
    f"{NAMESPACE}:sqlBackupCount": ("sql_backup_count", "an integer from 1 to 365"),
    f"{NAMESPACE}:sqlLogRetentionDays": ("sql_log_retention_days", "an integer from 1 to 7"),
    f"{NAMESPACE}:deletionProtection": ("deletion_protection", "true or false"),
    f"{NAMESPACE}:serviceCpu": ("service_cpu", "1, 2 or 4"),
    f"{NAMESPACE}:serviceMemory": ("service_memory", "a size in GiB such as 2Gi"),
    f"{NAMESPACE}:jobCpu": ("job_cpu", "1, 2 or 4"),
    f"{NAMESPACE}:jobMemory": ("job_memory", "a size in GiB such as 2Gi"),
    f"{NAMESPACE}:jobTimeoutMinutes": ("job_timeout_minutes", "an integer from 1 to 1440"),
    f"{NAMESPACE}:expectedRunMinutes": ("expected_run_minutes", "a number of minutes above 0"),
    f"{NAMESPACE}:uiAccess": ("ui_access", "iap, authenticated or public"),
    f"{NAMESPACE}:uiMembers": (
        "ui_members",
        "a list of IAM members such as user:ana@example.com or group:data@example.com",
    ),
    f"{NAMESPACE}:uiEdits": (
        "ui_edits",
        "'persist' (UI edits kept on a Cloud Storage volume) or 'refuse' (code only from git)",
    ),
    f"{NAMESPACE}:ownerEmail": ("owner_email", "an e-mail address for Mage's owner account"),
    f"{NAMESPACE}:schedules": (
        "schedules",
        "a list of {pipeline, cron, timeZone, variables} with each pipeline once",
    ),
    f"{NAMESPACE}:taxiDataBaseUrl": ("taxi_data_base_url", "an https:// URL"),
    f"{NAMESPACE}:bigqueryDataset": ("bigquery_dataset", "letters, digits and underscores"),
    f"{NAMESPACE}:bigqueryLocation": ("bigquery_location", "a BigQuery location such as US"),
    f"{NAMESPACE}:lakeVersioning": ("lake_versioning", "true or false"),
    f"{NAMESPACE}:lakeDeleteAfterDays": (
        "lake_delete_after_days",
        "a number of days (0 keeps objects forever)",
    ),
    f"{NAMESPACE}:lakeExpectedGb": ("lake_expected_gb", "a number of GB (for the cost estimate)"),
    f"{NAMESPACE}:logRetentionDays": ("log_retention_days", "a number of days from 1 to 3650"),
    f"{NAMESPACE}:variablesRetentionDays": (
        "variables_retention_days",
        "a number of days from 1 to 3650",
    ),
    f"{NAMESPACE}:githubRepository": ("github_repository", "a GitHub repository as owner/name"),
    f"{NAMESPACE}:alertEmails": ("alert_emails", "a list of e-mail addresses"),
}
_FIELD_TO_KEY = {field: key for key, (field, _) in KEYS.items()}
_STRUCTURED = {"ui_members", "schedules", "alert_emails"}


def _decode(field: str, key: str, raw: Any) -> Any:
    """Turn a config string (as the Pulumi CLI passes it) into a Python value."""
    if not isinstance(raw, str):
        return raw
    if field in _STRUCTURED:
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            raise ConfigError(
                f"Stack config {key} is not valid JSON/YAML structure: use {KEYS[key][1]}."
            ) from None
    if raw.lower() in ("true", "false") and StackConfig.model_fields[field].annotation is bool:
        return raw.lower() == "true"
    return raw


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
    values = {
        field: _decode(field, key, raw[key]) for key, (field, _) in KEYS.items() if key in raw
    }
    try:
        return StackConfig(**values)
    except ValidationError as exc:
        error = exc.errors()[0]
        if not error["loc"]:  # a rule across fields: its message names the key itself
            message = str(error["msg"]).removeprefix("Value error, ")
            raise ConfigError(f"Stack config {NAMESPACE}:{message}.") from None
        field = str(error["loc"][0])
        key = _FIELD_TO_KEY.get(field, f"{NAMESPACE}:{field}")
        shown = raw.get(key, "")
        allowed = KEYS[key][1] if key in KEYS else error["msg"]
        raise ConfigError(
            f"Stack config {key} = {shown!r} is not allowed: use {allowed} "
            f"(`pulumi config set {key} <value>`)."
        ) from None


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

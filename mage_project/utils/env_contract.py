"""The environment contract, defined once: every variable Mage and the blocks read, and how the
local twin and Cloud Run set it.

Read by the twin (``twin.supervisor.Twin.env``), the Pulumi program (``infra/components/runtime_env``),
the docker-compose test and the docs (the table in docs/CONTRACTS.md is ``markdown_table()``;
print it with ``python -m mage_project.utils.env_contract``). The blocks read these variables
through ``mage_project.utils.settings``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Place = Literal["twin", "cloud"]

#: The known library notices filtered where we start Python for Mage (the twin's Mage, the Cloud
#: Run service and jobs): google-auth's grpcio PQC notice and google-api-core's Python end-of-life
#: notices, FutureWarnings printed on every GCS/BigQuery import that say nothing about the run.
#: Every other warning still shows.
QUIET_WARNINGS = ",".join(
    [
        "ignore:grpcio < 1.83.0 does not support Post-Quantum Cryptography:FutureWarning",
        "ignore:You are using a Python version:FutureWarning",
    ]
)


class ContractError(KeyError):
    """A place sets a variable the contract does not define, or misses one it must fill in."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class Value:
    """How one place sets a variable: a literal, or a value that place fills in (``given``)."""

    literal: str | None = None
    given: str = ""  # what the place fills in, for the docs
    server_only: bool = False  # only the Mage server gets it (`mage start` / the UI service)
    secret: bool = False  # a Secret Manager reference on Cloud Run, never a plain value

    def describe(self) -> str:
        text = f"`{self.literal}`" if self.literal is not None else self.given
        if self.secret:
            text += " (Secret Manager reference)"
        if self.server_only:
            text += " (Mage server only)"
        return text


def lit(value: str, **flags: bool) -> Value:
    return Value(literal=value, **flags)


def given(description: str, **flags: bool) -> Value:
    return Value(given=description, **flags)


@dataclass(frozen=True)
class Variable:
    name: str
    twin: Value | None  # None: not set on the twin
    cloud: Value | None  # None: not set on Cloud Run (e.g. the emulator hosts: ADC there)
    about: str = ""


VARIABLES: tuple[Variable, ...] = (
    Variable("POSTGRES_HOST", lit("127.0.0.1"), given("Cloud SQL's private IP")),
    Variable("POSTGRES_PORT", given("the twin's Postgres port"), lit("5432")),
    Variable("POSTGRES_DBNAME", lit("taxi"), given("`taxi` (the stack's taxi database)")),
    Variable("POSTGRES_USER", given("the twin's user"), given("`taxi` (the stack's taxi user)")),
    Variable(
        "POSTGRES_PASSWORD", given("the twin's password"), given("the taxi password", secret=True)
    ),
    Variable("POSTGRES_SCHEMA", lit("ny_taxi"), lit("ny_taxi"), "default schema of the sinks"),
    # libpq (psycopg 2 and 3) reads it: Cloud SQL only accepts encrypted connections.
    Variable("PGSSLMODE", None, lit("require"), "libpq: encrypted connections only"),
    Variable(
        "MAGE_DATABASE_CONNECTION_URL",
        given("postgresql+psycopg2://…/mage (twin Postgres, database `mage`)"),
        given("Cloud SQL database `mage`", secret=True),
        "Mage's own metadata database",
    ),
    Variable(
        "STORAGE_EMULATOR_HOST",
        given("http://127.0.0.1:<gcs port>"),
        None,
        "the GCS emulator; ADC on Cloud Run",
    ),
    Variable("GCS_BUCKET", lit("mage-gcp-lake"), given("the lake bucket")),
    Variable("GCP_PROJECT_ID", lit("mage-gcp-local"), given("the project")),
    Variable("GCP_REGION", lit("us-central1"), given("the region")),
    Variable(
        "BIGQUERY_EMULATOR_HOST",
        given("http://127.0.0.1:<bq REST port>"),
        None,
        "the BigQuery emulator; ADC on Cloud Run",
    ),
    Variable("BIGQUERY_DATASET", lit("ny_taxi"), given("the dataset")),
    # Stock google-cloud clients and Mage's BigQuery/GCS classes on the twin: a keyless
    # placeholder credentials file (twin/identity.py); ADC of the runtime account on Cloud Run.
    Variable(
        "GOOGLE_APPLICATION_CREDENTIALS",
        given("`<state dir>/google-adc.json` (keyless, never leaves 127.0.0.1)"),
        None,
        "ADC for the stock clients; the runtime account on Cloud Run",
    ),
    Variable("GOOGLE_CLOUD_PROJECT", lit("mage-gcp-local"), None, "the stock clients' project"),
    # psql and libpq tools in `eval "$(python -m twin env)"` shells.
    Variable("PGHOST", lit("127.0.0.1"), None, "psql"),
    Variable("PGPORT", given("the twin's Postgres port"), None, "psql"),
    Variable("PGUSER", given("the twin's user"), None, "psql"),
    Variable("PGPASSWORD", given("the twin's password"), None, "psql"),
    Variable("PGDATABASE", lit("taxi"), None, "psql"),
    Variable(
        "TAXI_DATA_BASE_URL",
        given("http://127.0.0.1:<files port>"),
        given("`taxiDataBaseUrl` (default the DataTalksClub release URL)"),
    ),
    Variable("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", lit("false"), lit("false")),
    # The twin adds it to what the user's shell sets (twin.supervisor); Cloud Run sets it.
    Variable("PYTHONWARNINGS", None, lit(QUIET_WARNINGS), "known library notices filtered"),
    Variable("MAGE_DATA_DIR", given("`<state dir>/mage_data`"), lit("/home/src/mage_data")),
    # The hosted Mage's state (docs/hosted-ui.md): logging_config bucket, remote_variables_dir,
    # and Mage's secrets key (mage_runner writes Mage's key file from it).
    Variable("MAGE_STATE_BUCKET", None, given("the state bucket"), "Mage's run logs (GCS)"),
    Variable(
        "MAGE_REMOTE_VARIABLES_DIR",
        None,
        given("`gs://<state bucket>/variables`"),
        "Mage's block outputs",
    ),
    Variable(
        "MAGE_SECRETS_KEY",
        None,
        given("a generated key", secret=True),
        "Mage's secrets encryption key",
    ),
    # Mage's environment: triggers.yaml entries with `envs: [dev]` (the local twin's schedules)
    # are not created on Cloud Run; Cloud Scheduler runs the cloud's schedules.
    Variable("ENV", lit("dev", server_only=True), lit("prod"), "Mage's environment"),
    Variable(
        "REQUIRE_USER_AUTHENTICATION",
        lit("0", server_only=True),
        lit("1", server_only=True),
        "Mage's login",
    ),
    Variable("DEFAULT_OWNER_EMAIL", None, given("`ownerEmail`", server_only=True)),
    Variable("DEFAULT_OWNER_USERNAME", None, lit("owner", server_only=True)),
    Variable(
        "DEFAULT_OWNER_PASSWORD",
        None,
        given("the generated owner password", server_only=True, secret=True),
    ),
    Variable(
        "JWT_SECRET",
        None,
        given("a generated key", server_only=True, secret=True),
        "signs Mage's session tokens; its default is public",
    ),
)
BY_NAME = {v.name: v for v in VARIABLES}


def _value(variable: Variable, place: Place) -> Value | None:
    return variable.twin if place == "twin" else variable.cloud


def variables(place: Place, server: bool = False, secret: bool | None = None) -> list[Variable]:
    """The variables ``place`` sets for a pipeline run (``server``: for the Mage server too);
    ``secret`` True/False keeps only the secret/plain ones."""
    found = []
    for v in VARIABLES:
        value = _value(v, place)
        if value is None or (value.server_only and not server):
            continue
        if secret is not None and value.secret != secret:
            continue
        found.append(v)
    return found


def names(place: Place, server: bool = False, secret: bool | None = None) -> set[str]:
    return {v.name for v in variables(place, server, secret)}


def literal(place: Place, name: str) -> str:
    """The fixed value ``place`` gives ``name`` (e.g. the twin's bucket name)."""
    value = _value(BY_NAME[name], place)
    if value is None or value.literal is None:
        raise ContractError(f"{name} has no fixed value on the {place}.")
    return value.literal


def resolve(
    place: Place,
    filled: Mapping[str, Any],
    server: bool = False,
    secret: bool | None = None,
    only_server: bool = False,
) -> dict[str, Any]:
    """The environment ``place`` sets: literals from the contract, the rest from ``filled``.

    ``only_server``: just the Mage server's extra variables. Raises ContractError when
    ``filled`` lacks a variable the place must fill in, or names one the contract lacks."""
    chosen = [
        v
        for v in variables(place, server or only_server, secret)
        if not only_server or _value(v, place).server_only  # type: ignore[union-attr]
    ]
    unknown = set(filled) - {v.name for v in chosen}
    if unknown:
        raise ContractError(
            f"{', '.join(sorted(unknown))} is not in the {place}'s environment contract; "
            "add it to mage_project/utils/env_contract.py."
        )
    env: dict[str, Any] = {}
    for v in chosen:
        value = _value(v, place)
        assert value is not None
        if value.literal is not None:
            env[v.name] = value.literal
        elif v.name in filled:
            env[v.name] = filled[v.name]
        else:
            raise ContractError(f"The {place} must fill in {v.name} ({value.given}).")
    return env


def markdown_table() -> str:
    """The docs' table: one row per variable, how the twin and Cloud Run set it."""
    rows = ["| variable | local twin | Cloud Run |", "|---|---|---|"]
    for v in VARIABLES:
        cells = [_describe(v.twin), _describe(v.cloud)]
        about = f" ({v.about})" if v.about else ""
        rows.append(f"| {v.name}{about} | {cells[0]} | {cells[1]} |")
    return "\n".join(rows)


def _describe(value: Value | None) -> str:
    return "unset" if value is None else value.describe()


if __name__ == "__main__":
    print(markdown_table())

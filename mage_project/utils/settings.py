"""Settings read from the environment (see docs/CONTRACTS.md); nothing else reads os.environ."""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

from mage_project.utils.errors import TaxiDataError
from mage_project.utils.image_contract import DEFAULT_TAXI_DATA_BASE_URL


def env(name: str, default: str | None = None) -> str:
    """A required setting: its value, the default, or one clear error."""
    value = os.environ.get(name, "").strip() or default
    if value is None:
        raise TaxiDataError(
            f"Environment variable {name} is not set; start the pipeline through `make up`/`make demo` or export it (see docs/CONTRACTS.md)."
        )
    return value


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise TaxiDataError(
            f"Environment variable {name}={raw[:40]!r} is not a usable number; set it to e.g. {default:g}."
        )
    return value


def taxi_data_base_url() -> str:
    return env("TAXI_DATA_BASE_URL", DEFAULT_TAXI_DATA_BASE_URL)


def staging_dir() -> Path:
    """Where blocks stage files between steps: ``$TAXI_STAGING_DIR``, else under ``$MAGE_DATA_DIR``,
    else the system temp dir. Each run works in its own folder below it (see ``ingest.run_dir``)."""
    explicit = os.environ.get("TAXI_STAGING_DIR", "").strip()
    if explicit:
        root = Path(explicit)
    elif os.environ.get("MAGE_DATA_DIR", "").strip():
        root = Path(os.environ["MAGE_DATA_DIR"]) / "taxi_staging"
    else:
        root = Path(tempfile.gettempdir()) / "mage-gcp-staging"
    root.mkdir(parents=True, exist_ok=True)
    return root


def retry_attempts() -> int:
    """How many times a network call is tried before giving up (``TAXI_RETRY_ATTEMPTS``)."""
    return max(1, int(env_float("TAXI_RETRY_ATTEMPTS", 5)))


def retry_backoff_seconds() -> float:
    """First back-off wait, doubled each retry up to 30 s (``TAXI_RETRY_BACKOFF_SECONDS``)."""
    return env_float("TAXI_RETRY_BACKOFF_SECONDS", 1.0)


def _optional(name: str) -> str | None:
    return os.environ.get(name, "").strip() or None


def storage_emulator_host() -> str | None:
    """The GCS emulator (``STORAGE_EMULATOR_HOST``, the twin), or None for Google (ADC)."""
    return _optional("STORAGE_EMULATOR_HOST")


def bigquery_emulator_host() -> str | None:
    """The BigQuery emulator (``BIGQUERY_EMULATOR_HOST``, the twin), or None for Google (ADC)."""
    return _optional("BIGQUERY_EMULATOR_HOST")


def gcp_region() -> str | None:
    """``GCP_REGION``: where BigQuery jobs run (None: the client's default)."""
    return os.environ.get("GCP_REGION") or None


# Overall deadlines (seconds) per network peer: the whole step talking to that peer, all retries
# and waits included, must end within it, else the run fails with one sentence naming the peer.
DEADLINES = {
    "download": ("TAXI_DOWNLOAD_DEADLINE_SECONDS", 1800.0),
    "postgres": ("TAXI_POSTGRES_DEADLINE_SECONDS", 1800.0),
    "gcs": ("TAXI_GCS_DEADLINE_SECONDS", 900.0),
    "bigquery": ("TAXI_BIGQUERY_DEADLINE_SECONDS", 900.0),
}


def deadline_seconds(peer: str) -> tuple[str, float]:
    """``(setting name, seconds)`` of the overall deadline of ``peer`` (a key of DEADLINES)."""
    name, default = DEADLINES[peer]
    seconds = env_float(name, default)
    if seconds <= 0:
        raise TaxiDataError(
            f"Environment variable {name}={seconds:g} must be more than 0 seconds; set it to e.g. {default:g}."
        )
    return name, seconds


def staging_keep_seconds() -> float:
    """Run folders in staging older than this are removed by later runs (``TAXI_STAGING_KEEP_SECONDS``)."""
    return env_float("TAXI_STAGING_KEEP_SECONDS", 86400.0)


#: The longest header or data line accepted (bytes); a TLC row is a few hundred bytes.
MAX_LINE_BYTES = 1 << 20

"""Settings read from the environment (see docs/CONTRACTS.md); nothing else reads os.environ."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from mage_project.utils.errors import TaxiDataError

DEFAULT_TAXI_DATA_BASE_URL = "https://github.com/DataTalksClub/nyc-tlc-data/releases/download"


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
        return float(raw)
    except ValueError:
        raise TaxiDataError(
            f"Environment variable {name}={raw!r} is not a number; set it to e.g. {default}."
        ) from None


def taxi_data_base_url() -> str:
    return env("TAXI_DATA_BASE_URL", DEFAULT_TAXI_DATA_BASE_URL)


def staging_dir() -> Path:
    """Where blocks stage files between steps: ``$TAXI_STAGING_DIR``, else under ``$MAGE_DATA_DIR``,
    else the system temp dir. One folder per slice, overwritten by the next run of that slice."""
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

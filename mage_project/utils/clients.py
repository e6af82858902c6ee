"""Google Cloud clients built from the environment: emulators when configured, else ADC.

``STORAGE_EMULATOR_HOST`` / ``BIGQUERY_EMULATOR_HOST`` point the real google-cloud clients at
the local twin with anonymous credentials; without them the clients use Application Default
Credentials (the Cloud Run service account) — no key files anywhere.
"""

from __future__ import annotations

from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery, storage

from mage_project.utils.settings import (
    bigquery_emulator_host,
    env,
    gcp_region,
    storage_emulator_host,
)


def project_id() -> str:
    return env("GCP_PROJECT_ID")


def _client(cls, host: str | None, **options):
    """``cls`` on the emulator at ``host`` (anonymous credentials), else with ADC."""
    if host:
        options |= {
            "credentials": AnonymousCredentials(),
            "client_options": ClientOptions(api_endpoint=host),
        }
    return cls(project=project_id(), **options)


def storage_client() -> storage.Client:
    """A Cloud Storage client (the emulator's when ``STORAGE_EMULATOR_HOST`` is set)."""
    return _client(storage.Client, storage_emulator_host())


def bigquery_client() -> bigquery.Client:
    """A BigQuery client (the emulator's when ``BIGQUERY_EMULATOR_HOST`` is set).

    Read results with ``to_dataframe(create_bqstorage_client=False)`` / ``to_arrow(...)`` so no
    BigQuery Storage client is created pointing at Google.
    """
    return _client(bigquery.Client, bigquery_emulator_host(), location=gcp_region())

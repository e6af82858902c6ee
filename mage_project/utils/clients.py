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


def storage_client() -> storage.Client:
    """A Cloud Storage client (the emulator's when ``STORAGE_EMULATOR_HOST`` is set)."""
    host = storage_emulator_host()
    if host:
        return storage.Client(
            project=project_id(),
            credentials=AnonymousCredentials(),
            client_options=ClientOptions(api_endpoint=host),
        )
    return storage.Client(project=project_id())


def bigquery_client() -> bigquery.Client:
    """A BigQuery client (the emulator's when ``BIGQUERY_EMULATOR_HOST`` is set).

    Read results with ``to_dataframe(create_bqstorage_client=False)`` / ``to_arrow(...)`` so no
    BigQuery Storage client is created pointing at Google.
    """
    host = bigquery_emulator_host()
    location = gcp_region()
    if host:
        return bigquery.Client(
            project=project_id(),
            credentials=AnonymousCredentials(),
            client_options=ClientOptions(api_endpoint=host),
            location=location,
        )
    return bigquery.Client(project=project_id(), location=location)

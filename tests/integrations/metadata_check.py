"""Child process: Mage's BigQuery/GCS classes built from the project's io_config.yaml, as on
Cloud Run (no key, no emulator; ``GCE_METADATA_HOST`` points at the test's metadata stand-in).
Prints one JSON line describing what Mage built."""

from __future__ import annotations

import json
import sys

import google.auth.transport.requests
from google.auth import compute_engine
from mage_ai.io.bigquery import BigQuery
from mage_ai.io.config import ConfigFileLoader
from mage_ai.io.google_cloud_storage import GoogleCloudStorage

config = ConfigFileLoader(sys.argv[1], "default")
bq = BigQuery.with_config(config, verbose=False)
gcs = GoogleCloudStorage.with_config(config, verbose=False)
credentials = bq.client._credentials
credentials.refresh(google.auth.transport.requests.Request())
print(
    json.dumps(
        {
            "bq_metadata_identity": isinstance(credentials, compute_engine.Credentials),
            "gcs_metadata_identity": isinstance(
                gcs.client._credentials, compute_engine.Credentials
            ),
            "bq_project": bq.client.project,
            "bq_location": bq.client.location,
            "bq_endpoint": bq.client._connection.API_BASE_URL,
            "gcs_endpoint": gcs.client._connection.API_BASE_URL,
            "token": credentials.token,
        }
    )
)

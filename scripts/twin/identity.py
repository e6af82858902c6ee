"""The twin's keyless Google identity: what Cloud Run's metadata server is in the cloud.

Application Default Credentials look at ``GOOGLE_APPLICATION_CREDENTIALS`` first
(https://cloud.google.com/docs/authentication/application-default-credentials). The twin points
it at an ``external_account_authorized_user`` file that holds only a placeholder access token: no
key, no refresh token, no token URL, so google-auth can never refresh it and nothing is sent
anywhere but to the endpoints the clients are pointed at -- the emulators
(``STORAGE_EMULATOR_HOST``, ``BIGQUERY_EMULATOR_HOST``), which accept any token. With it a stock
``bigquery.Client()`` and Mage's own BigQuery/GCS classes work on the twin unchanged; on Cloud
Run the variable is unset and the same code gets the runtime service account from the metadata
server.
"""

from __future__ import annotations

import json
from pathlib import Path

ADC_FILE_NAME = "google-adc.json"
#: The placeholder token the emulators receive as ``Authorization: Bearer ...``.
PLACEHOLDER_TOKEN = "mage-gcp-twin-placeholder-token"  # noqa: S105 (not a secret)


def adc_info() -> dict[str, str]:
    """The credential file's content (google.auth.external_account_authorized_user)."""
    return {
        "type": "external_account_authorized_user",
        "token": PLACEHOLDER_TOKEN,
        "universe_domain": "googleapis.com",
    }


def adc_path(state_dir: Path) -> Path:
    return Path(state_dir) / ADC_FILE_NAME


def write_adc(state_dir: Path) -> Path:
    """Write the credential file into the twin's state dir (idempotent); return its path."""
    path = adc_path(state_dir)
    text = json.dumps(adc_info(), indent=2) + "\n"
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path

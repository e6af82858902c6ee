"""The one retry policy and the one Google-call wrapper (mage_project/utils/retries.py), shared by
the GCS and BigQuery sinks; the Google sinks do not import the Postgres module."""

from __future__ import annotations

import subprocess
import sys

import pytest
from google.api_core import exceptions as gexc

from mage_project.utils.errors import TaxiDataError
from mage_project.utils.retries import google_call


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    monkeypatch.setenv("TAXI_RETRY_ATTEMPTS", "3")
    monkeypatch.setenv("TAXI_RETRY_BACKOFF_SECONDS", "0")


def test_transient_errors_are_retried_then_one_sentence():
    calls = []

    def flaky():
        calls.append(1)
        raise gexc.ServiceUnavailable("down")

    with pytest.raises(TaxiDataError) as caught:
        google_call("Cloud Storage", "http://127.0.0.1:1", "listing objects", flaky, "GCS_BUCKET")
    assert len(calls) == 3
    assert str(caught.value) == (
        "Cloud Storage at http://127.0.0.1:1 failed while listing objects after 3 attempts "
        "(503 down); start it (`make up`) or check GCS_BUCKET and credentials, then re-run."
    )


def test_a_permanent_error_is_not_retried_and_a_success_passes_through():
    calls = []

    def forbidden():
        calls.append(1)
        raise gexc.Forbidden("no access")

    with pytest.raises(TaxiDataError, match=r"^BigQuery at BigQuery failed while loading \(403"):
        google_call("BigQuery", "BigQuery", "loading", forbidden, "BIGQUERY_DATASET")
    assert len(calls) == 1
    assert google_call("BigQuery", "BigQuery", "x", lambda: 42, "BIGQUERY_DATASET") == 42


def test_google_sinks_do_not_import_the_postgres_module():
    code = (
        "import sys, mage_project.utils.gcs, mage_project.utils.bigquery; "
        "print('mage_project.utils.postgres' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

"""Shared fixtures: the local GCP twin on free loopback ports, started once per session."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from twin.ports import TwinPorts
from twin.supervisor import Twin

# gcsfs reads this when first imported; without it every call stalls ~60 s on the emulator.
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")


@pytest.fixture(scope="session")
def twin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Twin]:
    """PostgreSQL, GCS and BigQuery emulators and the taxi-file server (no Mage), started once.

    Serves the default sample months (scripts/twin/sample_data.py) unless TAXI_DATA_DIR is set.
    Start-up takes ~5-8 s; everything is stopped at the end of the session, even on failure.
    """
    instance = Twin(tmp_path_factory.mktemp("twin"), TwinPorts.free())
    instance.start(mage=False)
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture(scope="session")
def twin_env(twin: Twin) -> dict[str, str]:
    """``os.environ`` plus the twin's endpoint variables: the environment for ``mage run``."""
    return twin.subprocess_env()


@pytest.fixture
def bq(twin: Twin):
    """A google-cloud-bigquery client on the twin's BigQuery emulator."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    return bigquery.Client(
        project=twin.env["GCP_PROJECT_ID"],
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=twin.env["BIGQUERY_EMULATOR_HOST"]),
    )

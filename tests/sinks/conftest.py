"""Fixtures of the sink guarantee tests: the twin's endpoints in the environment, unique sink
names per test, and a local taxi file server that can drop connections."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.sinks.sinkkit import FaultyFileServer


@dataclass
class Sinks:
    """Where one test writes: its own Postgres table, GCS prefix and BigQuery table."""

    table: str
    prefix: str
    bq_table: str
    bucket: str
    dataset: str
    staging: Path


@pytest.fixture
def sinks(twin, monkeypatch, tmp_path) -> Sinks:
    """The twin's variables in ``os.environ`` (fast retries), and fresh sink names."""
    for name, value in twin.env.items():
        monkeypatch.setenv(name, value)
    staging = tmp_path / "staging"
    monkeypatch.setenv("TAXI_STAGING_DIR", str(staging))
    monkeypatch.setenv("TAXI_RETRY_ATTEMPTS", "3")
    monkeypatch.setenv("TAXI_RETRY_BACKOFF_SECONDS", "0.05")
    tag = uuid.uuid4().hex[:8]
    sinks = Sinks(
        table=f"ny_taxi.sinks_{tag}",
        prefix=f"sinks_{tag}",
        bq_table=f"sinks_{tag}",
        bucket=twin.env["GCS_BUCKET"],
        dataset=twin.env["BIGQUERY_DATASET"],
        staging=staging,
    )
    # The table belongs to the stack (the twin creates the real one at start): make this
    # test's own table from the same definition; the pipelines never create it.
    from twin.warehouse import create_table

    from mage_project.utils.bigquery import warehouse_table

    url, project = twin.env["BIGQUERY_EMULATOR_HOST"], twin.env["GCP_PROJECT_ID"]
    create_table(url, project, sinks.dataset, warehouse_table(sinks.bq_table))
    return sinks


@pytest.fixture
def files(sinks, monkeypatch, tmp_path) -> Iterator[FaultyFileServer]:
    """A taxi file server on 127.0.0.1 serving ``files.root``; TAXI_DATA_BASE_URL points at it."""
    root = tmp_path / "served"
    root.mkdir()
    server = FaultyFileServer(root).start()
    monkeypatch.setenv("TAXI_DATA_BASE_URL", server.url)
    try:
        yield server
    finally:
        server.stop()

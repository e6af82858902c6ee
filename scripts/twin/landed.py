"""What landed in each sink: rows per Postgres table and slice, objects and partitions in GCS,
rows per BigQuery table. Read with the same clients and settings the blocks use."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from rich.table import Table

from mage_project.utils import bigquery as bq
from mage_project.utils import gcs, lake, postgres
from mage_project.utils.ingest import (
    BIGQUERY_TABLE,
    GREEN_PARTITIONED_PREFIX,
    GREEN_TABLE,
    YELLOW_OBJECT_PREFIX,
    YELLOW_PARTITIONED_PREFIX,
    YELLOW_TABLE,
)


@dataclass
class Landed:
    """One line of the summary: a sink, what it holds and how much."""

    sink: str
    where: str
    detail: str
    count: int
    unit: str


@contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    """Temporarily export ``env`` (the blocks' settings) into ``os.environ``."""
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _months(counts: dict[str, int]) -> str:
    return ", ".join(f"{month}: {n:,}" for month, n in counts.items()) or "no rows"


def _objects(bucket: str, prefix: str) -> list[str]:
    return [b.name for b in gcs.list_objects(bucket, prefix) if not b.name.endswith("/")]


def collect(env: dict[str, str]) -> list[Landed]:
    """Everything the five pipelines write, as found in the sinks now."""
    with environment(env):
        dsn = postgres.dsn_from_env()
        bucket = env["GCS_BUCKET"]
        found: list[Landed] = []
        for table in (YELLOW_TABLE, GREEN_TABLE):
            counts = postgres.slice_counts(dsn, table)
            found.append(Landed("PostgreSQL", table, _months(counts), sum(counts.values()), "rows"))
        single = _objects(bucket, f"{YELLOW_OBJECT_PREFIX}/")
        found.append(
            Landed("GCS", f"gs://{bucket}/{YELLOW_OBJECT_PREFIX}/", "one parquet per month",
                   len(single), "objects")
        )  # fmt: skip
        for prefix in (YELLOW_PARTITIONED_PREFIX, GREEN_PARTITIONED_PREFIX):
            # each month as its manifest says (lake.py): no object of another version counted
            months = [lake.current(bucket, prefix, m) for m in lake.months(bucket, prefix)]
            names = [name for month in months for name in month.objects]
            partitions = {partition for month in months for partition in month.partitions}
            found.append(
                Landed("GCS", f"gs://{bucket}/{prefix}/", f"{len(names):,} objects",
                       len(partitions), "partitions")
            )  # fmt: skip
        daily = [
            name
            for name in _objects(bucket, "")
            if name.endswith("/daily-trips.parquet") and name[:4].isdigit()
        ]
        found.append(
            Landed("GCS", f"gs://{bucket}/YYYY/MM/DD/daily-trips.parquet",
                   ", ".join(name.rsplit("/", 1)[0] for name in sorted(daily)[:3])
                   + (" …" if len(daily) > 3 else ""), len(daily), "days")
        )  # fmt: skip
        dataset = env.get("BIGQUERY_DATASET", "ny_taxi")
        counts = bq.slice_counts(dataset, BIGQUERY_TABLE)
        found.append(
            Landed("BigQuery", f"{dataset}.{BIGQUERY_TABLE}", _months(counts),
                   sum(counts.values()), "rows")
        )  # fmt: skip
        return found


def summary_table(found: list[Landed], title: str = "What landed") -> Table:
    table = Table(title=title)
    for name, justify in (("sink", "left"), ("where", "left"), ("count", "right"),
                          ("", "left"), ("detail", "left")):  # fmt: skip
        table.add_column(name, justify=justify)
    for item in found:
        style = None if item.count else "red"
        table.add_row(item.sink, item.where, f"{item.count:,}", item.unit, item.detail, style=style)
    return table

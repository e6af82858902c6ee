"""Helpers of the sink guarantee tests: small taxi files, a faulty file server, sink snapshots."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from mage_project.utils import postgres
from mage_project.utils.clients import storage_client
from mage_project.utils.schema import schema_for
from mage_project.utils.slices import MonthSlice
from tests.local_http import LocalHTTPServer, QuietHandler

# --- files ------------------------------------------------------------------------------------


def row(color: str, pickup: str = "2021-01-05 10:00:00", **values: str) -> dict[str, str]:
    """A valid row of ``color`` picked up at ``pickup``, with some fields overridden."""
    prefix = "tpep" if color == "yellow" else "lpep"
    base = {c: "1" for c in schema_for(color).columns}
    base.update({f"{prefix}_pickup_datetime": pickup, f"{prefix}_dropoff_datetime": pickup})
    base.update({"store_and_fwd_flag": "N", "trip_distance": "2.5", "fare_amount": "9.5"})
    if color == "green":
        base["ehail_fee"] = ""
    base.update(values)
    return base


def month_file(root: Path, month: MonthSlice) -> Path:
    """Where the release layout puts ``month`` under ``root``."""
    return root / month.color / month.file_name


def write_rows(
    root: Path, month: MonthSlice, rows: list[dict[str, str]], header: list[str] | None = None
) -> Path:
    """A gzip CSV of ``rows`` for ``month`` in the release layout; returns its path."""
    header = header or list(schema_for(month.color).columns)
    path = month_file(root, month)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(header)] + [",".join(r.get(c, "") for c in header) for r in rows]
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    return path


def kept_rows(path: Path, color: str = "yellow") -> int:
    """How many rows the pipeline's documented rule keeps, counted in plain Python."""
    with gzip.open(path, "rt", newline="") as handle:
        reader = csv.DictReader(handle)
        total = 0
        for record in reader:
            passengers = record["passenger_count"]
            if not passengers or float(passengers) <= 0:
                continue
            if color == "green" and not (
                record["trip_distance"] and float(record["trip_distance"]) > 0
            ):
                continue
            total += 1
        return total


def pickup_dates(path: Path, color: str = "yellow") -> set[str]:
    """The pickup dates of the rows the rule keeps (plain Python)."""
    column = "tpep_pickup_datetime" if color == "yellow" else "lpep_pickup_datetime"
    with gzip.open(path, "rt", newline="") as handle:
        return {
            r[column][:10]
            for r in csv.DictReader(handle)
            if r["passenger_count"] and float(r["passenger_count"]) > 0
        }


# --- a taxi file server that can fail -----------------------------------------------------------


@dataclass
class Request:
    path: str
    range: str | None
    at: float


@dataclass
class FaultyFileServer(LocalHTTPServer):
    """Serves ``root`` in the release layout on 127.0.0.1 (with HTTP Range support).

    ``cut_after``/``cuts_left``: the next ``cuts_left`` GETs (-1: all) announce the whole body but
    the connection is closed after ``cut_after`` bytes of it — a dropped download.
    """

    root: Path
    cut_after: int | None = None
    cuts_left: int = 0
    requests: list[Request] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> FaultyFileServer:
        owner = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802
                with owner._lock:
                    owner.requests.append(
                        Request(self.path, self.headers.get("Range"), time.monotonic())
                    )
                    cut = owner.cut_after is not None and owner.cuts_left != 0
                    if cut and owner.cuts_left > 0:
                        owner.cuts_left -= 1
                target = owner.root / self.path.lstrip("/")
                if not target.is_file():
                    body = f"no such file: {self.path}\n".encode()
                    self.send_response(404)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                data = target.read_bytes()
                start = 0
                ranged = self.headers.get("Range", "")
                if ranged.startswith("bytes=") and ranged.endswith("-"):
                    start = int(ranged[6:-1])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Type", "application/gzip")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if cut:
                    self.wfile.write(body[: owner.cut_after])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.serve(Handler)
        return self


# --- sink snapshots ---------------------------------------------------------------------------


def pg_snapshot(table: str) -> dict[str, tuple[int, str]]:
    """Per slice: (rows, md5 of the rows in a fixed order) — equal means byte-for-byte the same."""
    namespace, name = postgres.split_table(table)
    with postgres.connect(postgres.dsn_from_env()) as conn:
        if (
            conn.execute("SELECT to_regclass(%s)", [f'"{namespace}"."{name}"']).fetchone()[0]
            is None
        ):
            return {}
        query = sql.SQL(
            "SELECT source_month, count(*), md5(string_agg(t::text, '|' ORDER BY t::text)) "
            "FROM {}.{} AS t GROUP BY 1 ORDER BY 1"
        ).format(sql.Identifier(namespace), sql.Identifier(name))
        return {month: (count, digest) for month, count, digest in conn.execute(query).fetchall()}


def pg_tables(table: str) -> list[str]:
    """Every relation whose name starts with the table's (parent, partitions, load leftovers)."""
    namespace, name = postgres.split_table(table)
    with psycopg.connect(postgres.dsn_from_env()) as conn:
        rows = conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname LIKE %s AND c.relkind IN ('r', 'p') ORDER BY 1",
            [namespace, name.replace("_", r"\_") + "%"],
        ).fetchall()
    return [r[0] for r in rows]


def gcs_snapshot(bucket: str, prefix: str) -> dict[str, str]:
    """Object name → md5 of its bytes, for every object under ``prefix``."""
    client = storage_client()
    return {
        blob.name: hashlib.md5(blob.download_as_bytes()).hexdigest()
        for blob in client.list_blobs(bucket, prefix=prefix)
    }


def data_objects(snapshot: dict[str, str]) -> dict[str, str]:
    """The data objects of a dataset snapshot (its ``_manifests/`` pointers left out)."""
    from mage_project.utils.manifest import MANIFESTS

    return {name: md5 for name, md5 in snapshot.items() if f"/{MANIFESTS}/" not in name}


def logical(name: str) -> str:
    """``p/d=D/v<version>/<slice>.parquet`` → ``p/d=D/<slice>.parquet`` (the version left out)."""
    return re.sub(r"/v[0-9a-f]+/", "/", name)


def parquet_rows(bucket: str, name: str) -> int:
    import pyarrow.parquet as pq

    data = storage_client().bucket(bucket).blob(name).download_as_bytes()
    return pq.read_metadata(io.BytesIO(data)).num_rows

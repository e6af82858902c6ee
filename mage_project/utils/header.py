"""A taxi file's header: read it (one sentence for a file that is not a usable ``.csv.gz``) and
check it against the colour's columns. Used by the load step (before a file is kept) and the
transform (which reads the columns it names)."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

from mage_project.utils.errors import TaxiDataError
from mage_project.utils.schema import COORDINATE_COLUMNS, LATER_COLUMNS, schema_for
from mage_project.utils.settings import MAX_LINE_BYTES

GZIP_MAGIC = b"\x1f\x8b"


def read_header(path: Path, name: str) -> list[str]:
    """The column names of a ``.csv.gz`` file, or one clear error if it is not a usable one.

    Names are stripped of stray spaces, quotes and a BOM; a repeated name is refused. Reads at
    most ``MAX_LINE_BYTES`` (a header of hundreds of MB never enters memory)."""
    if path.stat().st_size == 0:
        raise TaxiDataError(
            f"{name} is empty (0 bytes); the download or the source file is broken, re-publish it and re-run."
        )
    with path.open("rb") as raw:
        magic = raw.read(2)
    if magic != GZIP_MAGIC:
        raise TaxiDataError(
            f"{name} is not a gzip file (it starts with {magic!r}); replace it with the original .csv.gz and re-run."
        )
    try:
        with gzip.open(path, "rb") as handle:
            line = handle.readline(MAX_LINE_BYTES + 1)
    except (OSError, EOFError, zlib.error):
        raise TaxiDataError(
            f"{name} is not a readable gzip file; replace it with the original .csv.gz and re-run."
        ) from None
    if len(line) > MAX_LINE_BYTES:
        raise TaxiDataError(
            f"{name}, line 1: the header is longer than {MAX_LINE_BYTES >> 20} MiB, so this is not a taxi file; replace it with the original .csv.gz and re-run."
        )
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as error:
        raise TaxiDataError(
            f"{name}, line 1: the header has bytes that are not UTF-8 ({line[error.start : error.start + 1]!r} at byte {error.start + 1}); save the file as UTF-8 and re-run."
        ) from None
    if not text.strip():
        raise TaxiDataError(
            f"{name} has no header line (empty CSV); replace it with the original file and re-run."
        )
    names = [c.strip().strip('"').lstrip("\ufeff").strip() for c in text.rstrip("\r\n").split(",")]
    repeated = sorted({c for c in names if names.count(c) > 1})
    if repeated:
        raise TaxiDataError(
            f"{name}, line 1: the header names {', '.join(repeated[:5])} more than once, so its values are ambiguous; keep one column of each name and re-run."
        )
    return names


def missing_later_columns(columns: list[str], month: str | None) -> list[str]:
    """The columns TLC added after ``month`` (``YYYY-MM``) that this file lacks: they load as
    NULL (``schema.LATER_COLUMNS``); none for a later month or an unknown one."""
    if not month:
        return []
    return [c for c, since in LATER_COLUMNS.items() if c not in columns and month < since]


def check_header(columns: list[str], color: str, name: str, month: str | None = None) -> list[str]:
    """Reject a file missing a required column; return the unknown extra columns (dropped later).

    ``month`` (the file's, ``YYYY-MM``): a file older than a column TLC added later may lack it
    (it loads as NULL). TLC's layout before 2016-07 (coordinates, no zone ids) is refused with
    what to load instead."""
    required = schema_for(color).columns
    if {c.lower() for c in columns} & COORDINATE_COLUMNS:
        raise TaxiDataError(
            f"{name} has TLC's layout from before July 2016 (pickup and drop-off coordinates instead of the PULocationID/DOLocationID taxi zones), which this project does not load; load months from 2016-07 on."
        )
    optional = set(missing_later_columns(columns, month))
    missing = [c for c in required if c not in columns and c not in optional]
    later = [c for c in missing if c in LATER_COLUMNS]
    if later and len(missing) == len(later):
        since = LATER_COLUMNS[later[0]]
        raise TaxiDataError(
            f"{name} lacks the column {', '.join(later)}, which every {color} file from {since} on has; the file was cut or edited, replace it with the original and re-run."
        )
    if len(missing) > 3:
        raise TaxiDataError(
            f"{name} is missing {len(missing)} required columns ({', '.join(missing[:3])} and more), so its header is not a {color} taxi header; replace it with the original file and re-run."
        )
    if missing:
        raise TaxiDataError(
            f"{name} is missing the required column{'s' if len(missing) > 1 else ''} {', '.join(missing)} of the {len(required)} a {color} file has (mage_project/utils/schema.py); replace it with the original file and re-run."
        )
    return [c for c in columns if c not in required]

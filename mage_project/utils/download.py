"""Step 1 (load): fetch a month's ``.csv.gz`` to a local staged file and check its header.

Streams in 1 MiB chunks (never the whole file in memory), retries dropped connections with
exponential back-off and resumes with an HTTP Range request when the server supports it
(restarts otherwise). The file appears under its final name only when complete, so a killed
run never leaves a half file that a later step could mistake for the month.
``TAXI_DATA_BASE_URL`` may also be a local folder (or ``file://`` URL), in the release layout or flat.
"""

from __future__ import annotations

import gzip
import re
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import requests

from mage_project.utils.errors import TaxiDataError, short_reason
from mage_project.utils.retries import call_with_retries
from mage_project.utils.schema import schema_for
from mage_project.utils.settings import retry_attempts
from mage_project.utils.slices import MonthSlice

CHUNK = 1 << 20
TIMEOUT = (10, 60)  # connect, read (seconds)


@dataclass
class StagedFile:
    """What the load step hands to the transform step (small; Mage stores it as JSON)."""

    path: str
    source: str
    color: str
    slice: str
    bytes: int
    columns: list[str]
    extra_columns: list[str]

    def to_dict(self) -> dict:
        return asdict(self)


class _Retryable(Exception):
    """A transient network failure worth another attempt."""


def _local_source(source: str) -> Path | None:
    parsed = urlparse(source)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme in ("", None) or len(parsed.scheme) == 1:  # plain or Windows path
        return Path(source)
    return None


_INCOMPLETE = re.compile(r"IncompleteRead\((\d+) bytes read, (\d+) more expected\)")


def _network_reason(error: BaseException) -> str:
    """``the connection dropped after 1500 bytes, 8864 more were expected`` or the OS error."""
    dropped = _INCOMPLETE.search(str(error))
    if dropped:
        return f"the connection dropped after {dropped[1]} bytes, {dropped[2]} more were expected"
    return short_reason(error)


def _download(url: str, dest: Path) -> None:
    part = dest.with_name(dest.name + ".part")
    part.unlink(missing_ok=True)

    def attempt() -> None:
        have = part.stat().st_size if part.exists() else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        try:
            with requests.get(url, stream=True, timeout=TIMEOUT, headers=headers) as response:
                if response.status_code == 404:
                    raise TaxiDataError(
                        f"{url} was not found (HTTP 404): that month is not published; check the colour, year and month, or TAXI_DATA_BASE_URL."
                    )
                if response.status_code >= 500 or response.status_code == 429:
                    raise _Retryable(f"the server answered HTTP {response.status_code}")
                if response.status_code >= 400:
                    raise TaxiDataError(
                        f"{url} answered HTTP {response.status_code}; check TAXI_DATA_BASE_URL and that the file is public."
                    )
                mode = "ab" if have and response.status_code == 206 else "wb"
                with part.open(mode) as out:
                    for chunk in response.iter_content(CHUNK):
                        out.write(chunk)
        except requests.RequestException as error:
            raise _Retryable(_network_reason(error)) from error

    try:
        call_with_retries(attempt, lambda e: isinstance(e, _Retryable))
    except _Retryable as error:
        part.unlink(missing_ok=True)
        raise TaxiDataError(
            f"Downloading {url} failed after {retry_attempts()} attempts ({error}); check the network or the file server and re-run."
        ) from None
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    part.replace(dest)


def read_header(path: Path, name: str) -> list[str]:
    """The column names of a ``.csv.gz`` file, or one clear error if it is not a usable one."""
    if path.stat().st_size == 0:
        raise TaxiDataError(
            f"{name} is empty (0 bytes); the download or the source file is broken, re-publish it and re-run."
        )
    try:
        with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
            line = handle.readline()
    except (OSError, EOFError, zlib.error, UnicodeDecodeError):
        raise TaxiDataError(
            f"{name} is not a readable gzip file; replace it with the original .csv.gz and re-run."
        ) from None
    if not line.strip():
        raise TaxiDataError(
            f"{name} has no header line (empty CSV); replace it with the original file and re-run."
        )
    return [column.strip().strip('"').lstrip("\ufeff") for column in line.rstrip("\r\n").split(",")]


def check_header(columns: list[str], color: str, name: str) -> list[str]:
    """Reject a file missing a required column; return the unknown extra columns (dropped later)."""
    required = schema_for(color).columns
    missing = [c for c in required if c not in columns]
    if missing:
        raise TaxiDataError(
            f"{name} is missing the required column{'s' if len(missing) > 1 else ''} {', '.join(missing)}; "
            f"a {color} file needs {', '.join(required)}."
        )
    return [c for c in columns if c not in required]


def local_month_file(folder: Path, month: MonthSlice) -> Path:
    """The month's file in a local folder: the release layout ``<color>/<file>`` or flat ``<file>``."""
    folder = folder.expanduser()
    candidates = (folder / month.color / month.file_name, folder / month.file_name)
    for path in candidates:
        if path.is_file():
            return path
    raise TaxiDataError(
        f"{month.file_name} is in neither {candidates[0].parent} nor {folder}: that month is not "
        "in the folder TAXI_DATA_BASE_URL points at."
    )


def stage_month(month: MonthSlice, base_url: str, staging: Path) -> StagedFile:
    """Download (or locate) the month's file, check its header, and describe it."""
    source = month.url(base_url)
    local = _local_source(base_url)
    if local is not None:
        path = local_month_file(local, month)
        source = str(path)
    else:
        folder = staging / month.color / month.name
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / month.file_name
        _download(source, path)
    columns = read_header(path, month.file_name)
    extra = check_header(columns, month.color, month.file_name)
    return StagedFile(
        path=str(path), source=source, color=month.color, slice=month.name,
        bytes=path.stat().st_size, columns=columns, extra_columns=extra,
    )  # fmt: skip

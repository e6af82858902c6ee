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
import shutil
from contextlib import suppress
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import unquote, urlparse

import requests
import requests.adapters
import urllib3
import urllib3.connection

from mage_project.utils.deadline import Deadline
from mage_project.utils.errors import TaxiDataError, short_reason
from mage_project.utils.files import disk_full, disk_full_error, writing
from mage_project.utils.header import GZIP_MAGIC, check_header, read_header
from mage_project.utils.retries import call_with_retries
from mage_project.utils.settings import retry_attempts
from mage_project.utils.slices import MonthSlice

CHUNK = 1 << 20
TIMEOUT = (10, 60)  # connect, read (seconds) per request; the overall bound is the deadline


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
    work_dir: str = ""  # this run's own staging folder (never shared with another run)

    def to_dict(self) -> dict:
        return asdict(self)


class _Retryable(Exception):
    """A transient network failure worth another attempt (``retry_after``: the server's
    ``Retry-After`` in seconds, which the retry policy waits at least)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


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


def _server(url: str) -> str:
    parsed = urlparse(url)
    return f"{parsed.scheme}://{parsed.netloc}"


def _session(opened: list[int]) -> requests.Session:
    """A session whose connections record their socket's fd in ``opened`` the moment TCP
    connects, so the deadline's guard can cut a server that trickles its status line, its
    headers or its TLS handshake (requests hands back no response, hence no socket, until the
    last header has arrived; a per-read timeout never trips on a byte every few seconds)."""

    def recording(base: type) -> type:
        class Recording(base):  # type: ignore[misc, valid-type]
            def _new_conn(self):  # noqa: ANN202 (urllib3's private hook; returns a socket)
                sock = super()._new_conn()
                opened.append(sock.fileno())
                return sock

        return Recording

    class Pool(urllib3.HTTPConnectionPool):
        ConnectionCls = recording(urllib3.connection.HTTPConnection)

    class TLSPool(urllib3.HTTPSConnectionPool):
        ConnectionCls = recording(urllib3.connection.HTTPSConnection)

    adapter = requests.adapters.HTTPAdapter(max_retries=0)
    adapter.poolmanager.pool_classes_by_scheme = {"http": Pool, "https": TLSPool}
    session = requests.Session()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def retry_after_seconds(value: str | None) -> float | None:
    """The wait an HTTP ``Retry-After`` header asks for (seconds or an HTTP date), or None."""
    if not value or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    with suppress(TypeError, ValueError, IndexError, OverflowError):
        when = parsedate_to_datetime(text)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - datetime.now(UTC)).total_seconds())
    return None


def _response_fds(holder: list) -> list[int]:
    """The socket of each streamed response (http.client keeps it only in the body reader)."""
    fds = []
    for response in holder:
        with suppress(Exception):
            fds.append(response.raw._fp.fp.raw._sock.fileno())
            continue
        with suppress(Exception):
            fds.append(response.raw.connection.sock.fileno())
    return [fd for fd in fds if fd >= 0]


def _looks_like_html(first: bytes, content_type: str) -> bool:
    head = first.lstrip().lower()
    return "html" in content_type.lower() or head.startswith((b"<!doctype", b"<html", b"<"))


def _un_nest(part: Path) -> None:
    """A ``.csv.gz`` sent with ``Content-Encoding: gzip`` on top (gzip inside gzip): keep the
    inner ``.csv.gz`` (streamed)."""
    with gzip.open(part, "rb") as inner:
        if inner.read(2) != GZIP_MAGIC:
            return
    flat = part.with_name(part.name + ".inner")
    with writing(flat), gzip.open(part, "rb") as inner, flat.open("wb") as out:
        shutil.copyfileobj(inner, out, CHUNK)
    flat.replace(part)


def _download(url: str, dest: Path) -> None:
    part = dest.with_name(dest.name + ".part")
    part.unlink(missing_ok=True)
    what = f"The taxi file server {_server(url)} (sending {dest.name})"
    advice = "check the server or TAXI_DATA_BASE_URL"
    deadline = Deadline.start("download", what, advice)
    encoded: list[bool] = [False]

    def attempt() -> None:
        deadline.check()
        have = part.stat().st_size if part.exists() else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        wait = max(0.1, deadline.remaining())
        timeout = (min(TIMEOUT[0], wait), min(TIMEOUT[1], wait))
        holder: list = []
        opened: list[int] = []
        try:
            with (
                deadline.guard_socket(lambda: _response_fds(holder) + opened),
                _session(opened) as session,
                session.get(url, stream=True, timeout=timeout, headers=headers) as response,
            ):
                holder.append(response)
                _check_status(url, response, deadline)
                mode = "ab" if have and response.status_code == 206 else "wb"
                encoded[0] = "gzip" in response.headers.get("Content-Encoding", "").lower()
                kind = response.headers.get("Content-Type", "")
                first = mode == "wb"
                with writing(part), part.open(mode) as out:
                    # raw bytes: a .csv.gz sent with Content-Encoding: gzip stays the file
                    for chunk in response.raw.stream(CHUNK, decode_content=False):
                        if (
                            first
                            and chunk[:2] != GZIP_MAGIC
                            and _looks_like_html(chunk[:512], kind)
                        ):
                            raise TaxiDataError(
                                f"{url} answered a web page (HTML), not a .csv.gz file; check TAXI_DATA_BASE_URL (it must point at the release files) and re-run."
                            )
                        first = False
                        out.write(chunk)
                        deadline.check()
                if deadline.expired:  # the guard cut a body that had no length announced
                    raise deadline.error()
        except TaxiDataError:
            raise
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as error:
            if deadline.passed():
                raise deadline.error() from None
            if not isinstance(error, requests.RequestException) and disk_full(error):
                raise disk_full_error(part) from None
            raise _Retryable(_network_reason(error)) from error

    try:
        call_with_retries(attempt, lambda e: isinstance(e, _Retryable), ends=deadline.ends)
        if encoded[0]:
            _un_nest(part)
    except _Retryable as error:
        part.unlink(missing_ok=True)
        if deadline.passed():
            raise deadline.error() from None
        raise TaxiDataError(
            f"Downloading {url} failed after {retry_attempts()} attempts ({error}); check the network or the file server and re-run."
        ) from None
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    part.replace(dest)


def _check_status(url: str, response: requests.Response, deadline: Deadline) -> None:
    if response.status_code == 404:
        raise TaxiDataError(
            f"{url} was not found (HTTP 404): that month is not published; check the colour, year and month, or TAXI_DATA_BASE_URL."
        )
    if response.status_code >= 500 or response.status_code == 429:
        wait = retry_after_seconds(response.headers.get("Retry-After"))
        if wait is not None and wait > deadline.remaining():
            raise TaxiDataError(
                f"{url} answered HTTP {response.status_code} and asked to be retried after {wait:.0f} s (Retry-After), later than the {deadline.seconds:g} s download deadline allows ({deadline.setting}); re-run after that time or raise {deadline.setting}."
            )
        raise _Retryable(f"the server answered HTTP {response.status_code}", retry_after=wait)
    if response.status_code >= 400:
        raise TaxiDataError(
            f"{url} answered HTTP {response.status_code}; check TAXI_DATA_BASE_URL and that the file is public."
        )


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
    """Download (or locate) the month's file into ``staging`` (this run's own folder), check
    its header, and describe it."""
    source = month.url(base_url)
    local = _local_source(base_url)
    if local is not None:
        path = local_month_file(local, month)
        source = str(path)
    else:
        staging.mkdir(parents=True, exist_ok=True)
        path = staging / month.file_name
        _download(source, path)
    columns = read_header(path, month.file_name)
    extra = check_header(columns, month.color, month.file_name, month.name)
    return StagedFile(
        path=str(path), source=source, color=month.color, slice=month.name,
        bytes=path.stat().st_size, columns=columns, extra_columns=extra, work_dir=str(staging),
    )  # fmt: skip

"""The twin's BigQuery reads a load job's ``gs://`` source URIs from the twin's GCS emulator,
through its JSON API, as BigQuery reads Cloud Storage (runs inside ``bq_launcher``).

What BigQuery documents, and the twin does:

- a URI names one object, or holds ONE ``*`` wildcard in the object name (not in the bucket):
  the objects whose names start with the text before it and end with the text after it
  (https://cloud.google.com/bigquery/docs/batch-loading-data#load-wildcards); here ``*`` also
  matches ``/`` (BigQuery lists by the prefix; the pipelines' URIs never depend on it);
- a URI that names no object, or a wildcard that matches none, fails the job with reason
  ``notFound`` and BigQuery's message ``Not found: URI gs://<bucket>/<name>``;
- the objects are read as they are when the job runs (listing, then each object's bytes).

The GCS endpoint is ``STORAGE_EMULATOR_HOST`` (the same setting the Google clients read).
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

TIMEOUT_SECONDS = 60


class SourceError(Exception):
    """A source URI the job cannot read; ``reason`` is BigQuery's error reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


@dataclass
class Sources:
    """The objects one load job reads, copied to local files in URI order."""

    paths: list[Path] = field(default_factory=list)
    bytes: int = 0


def parse(uri: str) -> tuple[str, str]:
    """``gs://bucket/name`` → (bucket, name); one ``*`` at most, and only in the name."""
    bucket, _, name = uri[len("gs://") :].partition("/")
    if not bucket or not name or "*" in bucket:
        raise SourceError(
            "invalid",
            f"Invalid source URI {uri}: use gs://<bucket>/<object name>, a wildcard only in the object name.",
        )
    if name.count("*") > 1:
        raise SourceError(
            "invalid", f"Invalid source URI {uri}: BigQuery supports one wildcard (*) per URI."
        )
    return bucket, name


def _endpoint() -> str:
    host = os.environ.get("STORAGE_EMULATOR_HOST", "").rstrip("/")
    if not host:
        raise SourceError(
            "invalid",
            "The twin's BigQuery cannot read gs:// URIs: STORAGE_EMULATOR_HOST is not set.",
        )
    return host if "://" in host else f"http://{host}"


def _get(url: str):
    return urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS)  # noqa: S310 - loopback emulator


def list_names(bucket: str, prefix: str) -> list[str]:
    """Names of the objects in ``bucket`` starting with ``prefix`` (every page)."""
    names: list[str] = []
    token = ""
    while True:
        query = {"prefix": prefix, **({"pageToken": token} if token else {})}
        url = f"{_endpoint()}/storage/v1/b/{urllib.parse.quote(bucket, safe='')}/o?" + (
            urllib.parse.urlencode(query)
        )
        try:
            with _get(url) as response:
                page = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return []
            raise
        names += [item["name"] for item in page.get("items") or []]
        token = page.get("nextPageToken") or ""
        if not token:
            return names


def matches(uri: str) -> list[str]:
    """The object names ``uri`` selects, sorted; SourceError ``notFound`` when there are none."""
    bucket, name = parse(uri)
    head, star, tail = name.partition("*")
    if star:
        found = [
            n
            for n in list_names(bucket, head)
            if n.endswith(tail) and len(n) >= len(head) + len(tail) and not n.endswith("/")
        ]
    else:
        found = [n for n in list_names(bucket, name) if n == name]
    if not found:
        raise SourceError("notFound", f"Not found: URI {uri}")
    return sorted(found)


def fetch(uris: list[str], into: Path) -> Sources:
    """Copy every object the ``uris`` select into ``into``; the job then reads the copies."""
    sources = Sources()
    for uri in uris:
        bucket, _ = parse(uri)
        for name in matches(uri):
            target = into / f"{sum(1 for _ in into.iterdir()):06d}{Path(name).suffix}"
            url = (
                f"{_endpoint()}/download/storage/v1/b/{urllib.parse.quote(bucket, safe='')}/o/"
                f"{urllib.parse.quote(name, safe='')}?alt=media"
            )
            try:
                with _get(url) as response, target.open("wb") as out:
                    shutil.copyfileobj(response, out, 1 << 20)
            except urllib.error.HTTPError as error:
                if error.code == 404:  # deleted between the listing and the read
                    raise SourceError("notFound", f"Not found: URI gs://{bucket}/{name}") from None
                raise
            sources.paths.append(target)
            sources.bytes += target.stat().st_size
    return sources

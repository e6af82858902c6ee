"""Whether the twin's services answer: HTTP probes and the recorded services' health."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

from twin import postgres
from twin.layout import BUCKET
from twin.ports import HOST
from twin.process import pid_alive
from twin.state import ServiceRecord, TwinState


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """True when ``GET url`` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def service_health(state_dir: Path, state: TwinState, record: ServiceRecord) -> tuple[bool, bool]:
    """``(process alive, answering)`` for one recorded service."""
    alive = pid_alive(record.pid, record.start_time)
    if not alive:
        return False, False
    port = state.ports[record.name]
    base = f"http://{HOST}:{port}"
    if record.name == "postgres":
        password_file = postgres.Cluster(state_dir / "postgres").superuser_password_file
        try:
            password = password_file.read_text().strip()
        except OSError:
            return True, False
        return True, postgres.ready(port, password)
    probes = {
        "gcs": f"{base}/storage/v1/b/{BUCKET}",
        "bigquery": f"{base}/readyz",
        "files": f"{base}/",
        "mage": f"{base}/",
    }
    return True, http_ok(probes[record.name])

"""What the client writes while BigQuery replaces a month: ``ingest.export_bigquery`` alone.

Counts, around that one call (imports and set-up excluded), the bytes this process writes:
through ``write()`` (``/proc/self/io`` ``wchar``: files, pipes, and sockets written with
write()), and through Python's ``socket.send``/``sendall`` (every HTTP request of the Google
clients, by request line; ``send()`` is not in ``wchar``), and within those the load job's
request (``POST …/jobs``). A load from ``gs://`` sends the job and polls it; if the month
passed through the client (a local file, an upload), its megabytes would show here. Prints one
JSON line: ``{"seconds", "rows", "files", "socket", "job_request", "other_socket", "requests"}``
(bytes). libpq's few bytes for the slice lock (C sockets) are in neither.

Usage: ``python scripts/benchmarks/bq_client_bytes.py [--year 2021 --month 1]`` with the twin's
(or the cloud's) environment.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
from pathlib import Path


def written_chars() -> int:
    """Bytes this process passed to write()/send() so far (files and sockets)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise RuntimeError("/proc/self/io has no wchar line")


class SocketBytes:
    """Bytes sent on sockets, by the HTTP request line they belong to ('' for non-HTTP)."""

    def __init__(self) -> None:
        self.by_request: dict[str, int] = {}
        self._current: dict[int, str] = {}

    def record(self, sock: socket.socket, data) -> None:
        raw = bytes(data[:64]) if data else b""
        head = raw.split(b"\r\n", 1)[0].decode("latin-1", "replace")
        if head.split(" ", 1)[0] in {"GET", "POST", "PUT", "PATCH", "DELETE"}:
            path = head.split(" ")[1].split("?")[0] if " " in head else head
            self._current[id(sock)] = f"{head.split(' ', 1)[0]} {path}"
        key = self._current.get(id(sock), "")
        self.by_request[key] = self.by_request.get(key, 0) + len(data)

    def install(self) -> None:
        """Count every ``socket.send``/``sendall`` of this process until :meth:`uninstall`."""
        send, sendall, recorder = socket.socket.send, socket.socket.sendall, self
        self._originals = (send, sendall)

        def counted_send(sock, data, *args):
            sent = send(sock, data, *args)
            recorder.record(sock, data[:sent])
            return sent

        def counted_sendall(sock, data, *args):
            sendall(sock, data, *args)
            recorder.record(sock, data)

        socket.socket.send, socket.socket.sendall = counted_send, counted_sendall

    def uninstall(self) -> None:
        socket.socket.send, socket.socket.sendall = self._originals

    def total(self) -> int:
        return sum(self.by_request.values())

    def job_request(self) -> int:
        """Bytes of the jobs.insert request(s): ``POST /bigquery/v2/projects/<p>/jobs``."""
        return sum(
            n for k, n in self.by_request.items() if k.startswith("POST") and k.endswith("/jobs")
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--year", type=int, default=2021)
    parser.add_argument("--month", type=int, default=1)
    args = parser.parse_args(argv)

    from mage_project.utils import bigquery, ingest  # noqa: F401 - imported before counting
    from mage_project.utils.slices import MonthSlice

    month = MonthSlice("yellow", args.year, args.month)
    sockets = SocketBytes()
    sockets.install()
    before, started = written_chars(), time.perf_counter()
    result = ingest.export_bigquery(month)
    seconds, written = time.perf_counter() - started, written_chars() - before
    socket_bytes = sockets.total()
    report = {
        "seconds": round(seconds, 3),
        "rows": result.rows,
        "files": written,
        "socket": socket_bytes,
        "job_request": sockets.job_request(),
        "other_socket": socket_bytes - sockets.job_request(),
        "requests": sockets.by_request,
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Hostile peers for the tests: a file server that trickles, a TCP server that never answers,
a TCP proxy that stops forwarding, servers answering HTML or ``Content-Encoding: gzip``."""

from __future__ import annotations

import contextlib
import gzip
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.local_http import LocalHTTPServer, QuietHandler


@dataclass
class HostileFileServer(LocalHTTPServer):
    """Serves ``root`` like the release server, misbehaving as ``mode`` says:

    ``trickle`` (headers, then one byte every ``pause`` s), ``silent`` (accept, never answer),
    ``trickle-headers`` (the status line and then header lines, one byte every ``pause`` s, never
    ending), ``busy`` (HTTP 503 with ``Retry-After: retry_after`` to the first ``busy_for``
    requests, then the file),
    ``html`` (200 with a web page), ``gzip-encoding`` (the .csv.gz with Content-Encoding: gzip,
    as some CDNs send it), ``gzip-twice`` (the .csv.gz gzipped again for transport)."""

    root: Path
    mode: str = "trickle"
    pause: float = 0.2
    retry_after: str = "1"
    busy_for: int = 1
    requests: list[str] = field(default_factory=list)
    times: list[float] = field(default_factory=list)

    def start(self) -> HostileFileServer:
        owner = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802
                owner.requests.append(self.path)
                owner.times.append(time.monotonic())
                if owner.mode == "silent":
                    time.sleep(3600)
                    return
                if owner.mode == "trickle-headers":
                    head = b"HTTP/1.1 200 OK\r\n" + b"X-Pad: a\r\n" * 100_000
                    with contextlib.suppress(OSError):
                        for index in range(len(head)):
                            self.wfile.write(head[index : index + 1])
                            self.wfile.flush()
                            time.sleep(owner.pause)
                    return
                if owner.mode == "busy" and len(owner.requests) <= owner.busy_for:
                    self.send_response(503)
                    self.send_header("Retry-After", owner.retry_after)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                target = owner.root / self.path.lstrip("/")
                data = target.read_bytes() if target.is_file() else b""
                kind = "application/gzip"
                if owner.mode == "html":
                    data, kind = b"<!DOCTYPE html><html><body>Sign in</body></html>", "text/html"
                self.send_response(200)
                self.send_header("Content-Type", kind)
                if owner.mode in ("gzip-encoding", "gzip-twice"):
                    self.send_header("Content-Encoding", "gzip")
                    if owner.mode == "gzip-twice":
                        data = gzip.compress(data)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if owner.mode != "trickle":
                    self.wfile.write(data)
                    return
                with contextlib.suppress(OSError):
                    for index in range(len(data)):
                        self.wfile.write(data[index : index + 1])
                        self.wfile.flush()
                        time.sleep(owner.pause)

        self.serve(Handler)
        return self


class BlackHole:
    """A TCP server on 127.0.0.1 that accepts connections and never sends a byte (an HTTP API
    endpoint that never replies)."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self._sock.settimeout(0.1)
        while not self._stop.is_set():
            with contextlib.suppress(OSError):
                conn, _ = self._sock.accept()
                self._held.append(conn)

    def stop(self) -> None:
        self._stop.set()
        for conn in self._held:
            conn.close()
        self._sock.close()


class StallingProxy:
    """A TCP proxy on 127.0.0.1 to ``target``; after ``stall_after`` bytes from the client it
    stops forwarding in both directions (the server seems to stop answering mid-load) while
    keeping the connections open. A client that closes its side closes the upstream too."""

    def __init__(self, target: tuple[str, int], stall_after: int | None = None) -> None:
        self.target, self.stall_after = target, stall_after
        self.sent = 0
        self.stalled = threading.Event()
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def port(self) -> int:
        return self._listener.getsockname()[1]

    def _accept(self) -> None:
        self._listener.settimeout(0.1)
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                continue
            upstream = socket.create_connection(self.target)
            self._pairs.append((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, counts: bool) -> None:
        try:
            while data := source.recv(65536):
                if counts and self.stall_after is not None:
                    self.sent += len(data)
                    if self.sent > self.stall_after:
                        self.stalled.set()
                while self.stalled.is_set() and not self._stop.is_set():
                    time.sleep(0.05)  # hold the bytes: nothing is forwarded any more
                if self._stop.is_set():
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:  # the client went away (or the server): tear the other side down
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def resume(self) -> None:
        """Forward again (what was held, then whatever the client does, e.g. its close)."""
        self.stall_after = None
        self.stalled.clear()

    def stop(self) -> None:
        """Drop every connection: shut each socket down (which wakes a pump blocked in
        ``recv`` and sends the peers their EOF; a bare ``close`` while another thread is in
        ``recv`` leaves the connection open, and the server's session with it) and close it."""
        self._stop.set()
        for client, upstream in self._pairs:
            for end in (client, upstream):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    end.close()
        self._listener.close()


def within(seconds: float, fn, *args, **kwargs):
    """``fn(*args, **kwargs)``, run in a helper thread: its result or its exception, or a test
    failure if it has not ended after ``seconds`` (code without a deadline hangs here)."""
    import pytest

    outcome: dict = {}

    def target() -> None:
        try:
            outcome["value"] = fn(*args, **kwargs)
        except BaseException as error:
            outcome["error"] = error

    worker = threading.Thread(target=target, daemon=True)
    started = time.monotonic()
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        pytest.fail(f"still running after {seconds:g} s: the stalled peer was never given up on")
    outcome["seconds"] = time.monotonic() - started
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


class StallingHTTPProxy:
    """An HTTP proxy on 127.0.0.1 in front of ``target`` (e.g. the GCS emulator): requests that
    ``stall(method, decoded url, head of the body)`` accepts get no answer, ever (the peer froze
    at that moment); every other request is forwarded. ``stalled`` lists the requests held.
    (A multipart upload names its object in the body, not the URL.)"""

    def __init__(self, target: str, stall) -> None:
        import http.client
        from http.server import ThreadingHTTPServer
        from urllib.parse import unquote, urlsplit

        from tests.local_http import QuietHandler

        self.stall = stall
        self.stalled: list[str] = []
        self.forwarded: list[str] = []
        self._stop = threading.Event()
        host = urlsplit(target)
        owner = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                seen = f"{self.command} {unquote(self.path)}"
                head = (body or b"")[:4096].decode("latin-1")
                if owner.stall(self.command, unquote(self.path), head):
                    owner.stalled.append(seen)
                    owner._stop.wait(3600)
                    self.close_connection = True
                    return
                owner.forwarded.append(seen)
                upstream = http.client.HTTPConnection(host.hostname, host.port, timeout=120)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                upstream.request(self.command, self.path, body=body, headers=headers)
                reply = upstream.getresponse()
                data = reply.read()
                self.send_response(reply.status)
                for key, value in reply.getheaders():
                    if key.lower() not in ("transfer-encoding", "content-length", "connection"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                upstream.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _any  # noqa: N815

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()

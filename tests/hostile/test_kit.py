"""The hostile kit's own peers: a stopped StallingProxy drops its connections, so the server
behind it sees its client go (a Postgres session stalled mid-COPY would otherwise keep its locks
and hang every later run of the same twin on that table)."""

from __future__ import annotations

import socket
import threading
import time

from tests.hostile.kit import StallingProxy


def test_a_stopped_stalling_proxy_closes_the_upstream_connection():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    got_eof = threading.Event()

    def serve() -> None:
        conn, _ = server.accept()
        conn.settimeout(10)
        try:
            while conn.recv(65536):
                pass
            got_eof.set()  # recv returned b"": the proxy closed its side
        except OSError:
            got_eof.set()
        finally:
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    proxy = StallingProxy(server.getsockname(), stall_after=10)
    client = socket.create_connection(("127.0.0.1", proxy.port))
    try:
        client.sendall(b"x" * 100)  # past stall_after: the proxy holds it and forwards nothing
        deadline = time.monotonic() + 5
        while not proxy.stalled.is_set() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proxy.stalled.is_set()
        proxy.stop()
        assert got_eof.wait(5), "the upstream server never saw the stopped proxy's connection end"
    finally:
        client.close()
        server.close()

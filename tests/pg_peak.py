"""The peak number of client connections a Postgres server held while a block of code ran:
``with peak_connections(connect) as peak: …; peak.value``. ``connect()`` opens an admin
connection (autocommit) to sample ``pg_stat_activity`` every 10 ms from a thread of its own."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass
class Peak:
    value: int = 0


@contextlib.contextmanager
def peak_connections(connect: Callable[[], Any]) -> Iterator[Peak]:
    peak, stop = Peak(), threading.Event()

    def sample() -> None:
        with connect() as conn:
            me = conn.info.backend_pid
            while not stop.is_set():
                (n,) = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE backend_type = 'client backend' AND pid <> %s",
                    [me],
                ).fetchone()
                peak.value = max(peak.value, n)
                time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        yield peak
    finally:
        stop.set()
        sampler.join()

"""Overall deadlines per network peer (file server, Postgres, GCS, BigQuery).

A per-read timeout does not bound a peer that trickles bytes or stops answering mid-stream, so
each step that talks to a peer runs under ONE deadline (``settings.DEADLINES``), all retries and
waits included. When it passes the step fails with one sentence naming the peer and the
setting, in bounded time, by one of two means:

- ``Deadline.guard_socket``: a timer shuts down the socket the blocked call reads (the call then
  fails at once in its own thread, so ``finally`` blocks and rollbacks run as usual);
- ``Deadline.run``: the call runs in a helper thread and the caller stops waiting for it (for
  clients whose sockets we do not own: google-cloud-storage/bigquery).
"""

from __future__ import annotations

import contextvars
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import TypeVar

from mage_project.utils.errors import TaxiDataError
from mage_project.utils.settings import deadline_seconds

T = TypeVar("T")
_ACTIVE: contextvars.ContextVar[dict[str, Deadline]] = contextvars.ContextVar("deadlines")


class DeadlineExceeded(TaxiDataError):
    """A peer did not finish within its overall deadline."""


@dataclass
class Deadline:
    """``peer`` (a key of ``settings.DEADLINES``) must be done by ``ends`` (monotonic)."""

    peer: str
    what: str  # e.g. "PostgreSQL at 127.0.0.1:5432 (database taxi)"
    advice: str  # e.g. "check that the server answers"
    setting: str
    seconds: float
    ends: float
    expired: bool = field(default=False)

    @classmethod
    def start(cls, peer: str, what: str, advice: str) -> Deadline:
        setting, seconds = deadline_seconds(peer)
        return cls(peer, what, advice, setting, seconds, time.monotonic() + seconds)

    def remaining(self) -> float:
        return max(0.0, self.ends - time.monotonic())

    def passed(self) -> bool:
        return self.expired or time.monotonic() >= self.ends

    def error(self) -> DeadlineExceeded:
        self.expired = True
        return DeadlineExceeded(
            f"{self.what} did not finish within its {self.seconds:g} s deadline ({self.setting}); "
            f"{self.advice} or raise {self.setting}, then re-run (nothing was changed)."
        )

    def check(self) -> None:
        if self.passed():
            raise self.error()

    @contextmanager
    def guard_socket(self, fds: Callable[[], list[int]]) -> Iterator[None]:
        """Shut down the sockets ``fds()`` names when the deadline passes (unblocking a read)."""

        def fire() -> None:
            self.expired = True
            for fd in fds():
                shutdown_fd(fd)

        timer = threading.Timer(self.remaining(), fire)
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            timer.cancel()

    def run(self, fn: Callable[[], T]) -> T:
        """``fn()``, but give up waiting for it when the deadline passes."""
        self.check()
        outcome: dict[str, object] = {}
        context = contextvars.copy_context()

        def target() -> None:
            try:
                outcome["value"] = context.run(fn)
            except BaseException as error:  # re-raised in the caller
                outcome["error"] = error

        worker = threading.Thread(target=target, name=f"{self.peer}-call", daemon=True)
        worker.start()
        worker.join(self.remaining())
        if worker.is_alive():
            raise self.error()
        if "error" in outcome:
            raise outcome["error"]  # type: ignore[misc]
        return outcome["value"]  # type: ignore[return-value]


def shutdown_fd(fd: int) -> None:
    """Shut a socket down for both directions (its owner's blocked read returns at once)."""
    with suppress(OSError):
        sock = socket.socket(fileno=os.dup(fd))
        try:
            sock.shutdown(socket.SHUT_RDWR)
        finally:
            sock.close()


@contextmanager
def scope(peer: str, what: str, advice: str) -> Iterator[Deadline]:
    """Run the block under one deadline for ``peer`` (nested scopes of a peer share the outer)."""
    active = dict(_ACTIVE.get({}))
    if peer in active:
        yield active[peer]
        return
    deadline = Deadline.start(peer, what, advice)
    token = _ACTIVE.set({**active, peer: deadline})
    try:
        yield deadline
    finally:
        _ACTIVE.reset(token)


def active(peer: str) -> Deadline | None:
    """The deadline of the enclosing :func:`scope` of ``peer``, if any."""
    return _ACTIVE.get({}).get(peer)

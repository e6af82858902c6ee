"""One retry policy (tenacity: exponential back-off) for every network call."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from mage_project.utils.settings import retry_attempts, retry_backoff_seconds

T = TypeVar("T")


def call_with_retries(
    fn: Callable[[], T], retryable: Callable[[BaseException], bool], ends: float | None = None
) -> T:
    """Run ``fn``; retry it on errors ``retryable`` accepts; re-raise the last error.

    ``ends`` (a ``time.monotonic()`` value, the peer's overall deadline): no retry starts after
    it and no back-off wait runs past it."""
    backoff = retry_backoff_seconds()
    exponential = wait_exponential(multiplier=backoff, min=backoff, max=30)

    def past_deadline(state) -> bool:
        return ends is not None and time.monotonic() >= ends

    def wait(state) -> float:
        pause = exponential(state)
        return pause if ends is None else max(0.0, min(pause, ends - time.monotonic()))

    retrying = Retrying(
        stop=stop_after_attempt(retry_attempts()) | past_deadline,
        wait=wait,
        retry=retry_if_exception(retryable),
        reraise=True,
    )
    return retrying(fn)

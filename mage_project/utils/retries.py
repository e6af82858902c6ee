"""One retry policy (tenacity: exponential back-off) for every network call."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from mage_project.utils.settings import retry_attempts, retry_backoff_seconds

T = TypeVar("T")


def call_with_retries(fn: Callable[[], T], retryable: Callable[[BaseException], bool]) -> T:
    """Run ``fn``; retry it on errors ``retryable`` accepts; re-raise the last error."""
    backoff = retry_backoff_seconds()
    retrying = Retrying(
        stop=stop_after_attempt(retry_attempts()),
        wait=wait_exponential(multiplier=backoff, min=backoff, max=30),
        retry=retry_if_exception(retryable),
        reraise=True,
    )
    return retrying(fn)

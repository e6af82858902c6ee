"""One retry policy (tenacity: exponential back-off) for every network call, and the one
wrapper of Google calls (GCS, BigQuery) that turns a persistent failure into one sentence."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from mage_project.utils.errors import TaxiDataError, short_reason
from mage_project.utils.settings import retry_attempts, retry_backoff_seconds

T = TypeVar("T")


def call_with_retries(
    fn: Callable[[], T], retryable: Callable[[BaseException], bool], ends: float | None = None
) -> T:
    """Run ``fn``; retry it on errors ``retryable`` accepts; re-raise the last error.

    ``ends`` (a ``time.monotonic()`` value, the peer's overall deadline): no retry starts after
    it and no back-off wait runs past it. An error with a ``retry_after`` attribute (seconds, a
    server's ``Retry-After``) makes the next wait at least that long."""
    backoff = retry_backoff_seconds()
    exponential = wait_exponential(multiplier=backoff, min=backoff, max=30)

    def past_deadline(state) -> bool:
        return ends is not None and time.monotonic() >= ends

    def wait(state) -> float:
        pause = exponential(state)
        # a server's Retry-After (seconds, on the exception as ``retry_after``) is waited at least
        asked = getattr(state.outcome.exception(), "retry_after", None) if state.outcome else None
        if asked is not None:
            pause = max(pause, asked)
        return pause if ends is None else max(0.0, min(pause, ends - time.monotonic()))

    retrying = Retrying(
        stop=stop_after_attempt(retry_attempts()) | past_deadline,
        wait=wait,
        retry=retry_if_exception(retryable),
        reraise=True,
    )
    return retrying(fn)


def google_transient(error: BaseException) -> bool:
    """Errors of a Google API call worth retrying: connection trouble, 5xx and 429."""
    import requests
    from google.api_core import exceptions as gexc  # lazy: only the Google sinks need it

    return isinstance(
        error,
        requests.ConnectionError | requests.Timeout | gexc.ServiceUnavailable | gexc.InternalServerError
        | gexc.TooManyRequests | gexc.BadGateway | gexc.GatewayTimeout,
    )  # fmt: skip


def google_call(
    service: str,
    where: str,
    what: str,
    fn: Callable[[], T],
    check: str,
    peer: str,
    reason_limit: int = 200,
) -> T:
    """Run one Google API call with our retry policy under the ``peer``'s overall deadline
    (settings.DEADLINES; the step's, when one is active); a persistent failure becomes one
    sentence naming the ``service`` at ``where``, what it was doing and the setting to ``check``.

    Every call inside passes ``retry=None``: the client library's own default retry (minutes per
    call) would otherwise hide an unreachable endpoint behind minutes of silence."""
    import requests
    from google.api_core import exceptions as gexc

    from mage_project.utils import deadline as deadlines

    deadline = deadlines.active(peer) or deadlines.Deadline.start(
        peer, f"{service} at {where}", f"check that it answers (`make up`) and {check}"
    )
    try:
        return deadline.run(lambda: call_with_retries(fn, google_transient, ends=deadline.ends))
    except deadlines.DeadlineExceeded:
        raise
    except (requests.RequestException, gexc.GoogleAPICallError) as error:
        if deadline.passed():
            raise deadline.error() from None
        tries = f" after {retry_attempts()} attempts" if google_transient(error) else ""
        raise TaxiDataError(
            f"{service} at {where} failed while {what}{tries} ({short_reason(error, reason_limit)}); start it (`make up`) or check {check} and credentials, then re-run."
        ) from None

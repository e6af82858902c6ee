"""The twin's user errors: problems a person fixes, printed as one sentence."""

from __future__ import annotations

from twin.ports import PortError
from twin.postgres import PostgresError


class TwinError(RuntimeError):
    """The twin could not start or stop; the message says what to do."""


#: Problems a person fixes (a port, the set-up, a setting): printed as one sentence, exit 1.
USER_ERRORS = (TwinError, PortError, PostgresError)

"""Local file helpers shared by every step and sink: a full disk becomes one sentence."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa

from mage_project.utils.errors import TaxiDataError

_DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def disk_full(error: BaseException) -> bool:
    """Whether ``error`` says the disk (or the file size limit) is full."""
    text = str(error)
    return (
        (isinstance(error, OSError) and error.errno in _DISK_FULL)
        or "No space left" in text
        or "File too large" in text
        or "Disk quota" in text
    )


def disk_full_error(path: Path | str) -> TaxiDataError:
    return TaxiDataError(
        f"The disk is full while writing {path}; free space there or point TAXI_STAGING_DIR at a larger disk, then re-run (the sinks are unchanged)."
    )


@contextmanager
def writing(path: Path | str) -> Iterator[None]:
    """Turn a full disk (ENOSPC, EDQUOT, EFBIG) while writing ``path`` into one sentence."""
    try:
        yield
    except TaxiDataError:
        raise
    except (OSError, pa.ArrowException) as error:
        if disk_full(error):
            raise disk_full_error(path) from None
        raise

"""A load that stops at a chosen point and waits to be killed (run by test_crash_safety.py).

``python crash_child.py postgres <table> <typed.parquet> <marker>``: replace slice 2021-01 of
``table`` with the typed rows, then — with the COPY still open — write ``marker`` and sleep.
``python crash_child.py gcs-upload|gcs-commit <prefix> <typed.parquet> <marker> <work dir>``:
replace slice 2021-01 under ``prefix``; stop after the 2nd staging upload (``gcs-upload``) or
after the 1st object was copied into place (``gcs-commit``).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from mage_project.utils import gcs, postgres
from mage_project.utils.schema import schema_for
from mage_project.utils.typed_file import iter_typed

SLICE = "2021-01"


def stop_here(marker: Path) -> None:
    marker.write_text(str(os.getpid()))
    time.sleep(600)
    raise SystemExit("not killed")


def main(mode: str, target: str, typed: str, marker: str, *rest: str) -> None:
    marker_path = Path(marker)
    if mode == "postgres":

        def batches():
            yield from iter_typed(Path(typed), batch_size=500)
            stop_here(marker_path)  # every row sent, COPY not finished, nothing committed

        schema = schema_for("yellow").sink_schema
        postgres.replace_slice(postgres.dsn_from_env(), target, SLICE, schema, batches())
        return

    calls = {"upload": 0, "copy": 0}
    real_upload = gcs._upload
    real_copy = gcs.storage.Bucket.copy_blob

    def upload(bucket, name, path):
        real_upload(bucket, name, path)
        calls["upload"] += 1
        if mode == "gcs-upload" and calls["upload"] == 2:
            stop_here(marker_path)

    def copy_blob(self, *args, **kwargs):
        result = real_copy(self, *args, **kwargs)
        calls["copy"] += 1
        if mode == "gcs-commit" and calls["copy"] == 1:
            stop_here(marker_path)
        return result

    gcs._upload = upload
    gcs.storage.Bucket.copy_blob = copy_blob
    gcs.upload_partitioned(
        Path(typed), os.environ["GCS_BUCKET"], target, "tpep_pickup_date", SLICE, Path(rest[0])
    )


if __name__ == "__main__":
    main(*sys.argv[1:])

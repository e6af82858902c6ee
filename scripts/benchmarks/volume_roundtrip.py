"""Save latency of a block file: local disk vs a GCS object (the twin's emulator), as a dev
project on a Cloud Storage volume turns every save into an upload (docs/hosted-ui.md).

    .venv/bin/python scripts/benchmarks/volume_roundtrip.py [--state-dir .twin] [--n 50]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from twin.console import wide_console
from twin.layout import REPO_ROOT
from twin.session import running_twin

REPO = REPO_ROOT


BLOCK = REPO / "mage_project" / "data_loaders" / "load_green_months.py"


def timed(n: int, step: Callable[[int], None]) -> tuple[float, float]:
    """Median and max milliseconds of ``n`` calls."""
    samples = []
    for i in range(n):
        began = time.perf_counter()
        step(i)
        samples.append((time.perf_counter() - began) * 1000)
    return statistics.median(samples), max(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", type=Path, default=Path(tempfile.mkdtemp(prefix="rt-")))
    parser.add_argument("--n", type=int, default=50)
    args = parser.parse_args(argv)
    body = BLOCK.read_bytes()
    with running_twin(args.state_dir, wide_console()) as twin, tempfile.TemporaryDirectory() as d:

        def local(i: int) -> None:
            path = Path(d) / f"block_{i}.py"
            with path.open("wb") as handle:
                handle.write(body)
                handle.flush()
                os.fsync(handle.fileno())
            assert path.read_bytes() == body

        client = storage.Client(
            project=twin.env["GCP_PROJECT_ID"],
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": twin.env["STORAGE_EMULATOR_HOST"]},
        )
        bucket = client.bucket(twin.env["GCS_BUCKET"])

        def gcs(i: int) -> None:
            blob = bucket.blob(f"project-roundtrip/block_{i}.py")
            blob.upload_from_string(body)
            assert blob.download_as_bytes() == body

        print(f"{len(body)}-byte block file, {args.n} write+read roundtrips")
        print("local disk      median {:.1f} ms, max {:.1f} ms".format(*timed(args.n, local)))
        print("GCS (emulator)  median {:.1f} ms, max {:.1f} ms".format(*timed(args.n, gcs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

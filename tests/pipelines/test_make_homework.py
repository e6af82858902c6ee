"""`make homework` (python -m twin.homework): fetches the three green files of Q4 2020 from
TAXI_DATA_BASE_URL -- here a local HTTP server in the release layout, as there is no internet --
into a folder, runs green_taxi_etl on them with --test against the twin, and prints answers that
an independent pandas reading of the same files gives."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

import pytest

from mage_project.utils.image_contract import REPO_ROOT as ROOT
from tests.course_reading import course_frame
from tests.local_http import LocalHTTPServer

pytestmark = pytest.mark.twin

MONTHS = ("2020-10", "2020-11", "2020-12")


class Release(LocalHTTPServer):
    """The release layout ``<base>/green/green_tripdata_<YYYY-MM>.csv.gz`` from a folder."""

    def __init__(self, folder: Path) -> None:
        handler = functools.partial(SimpleHTTPRequestHandler, directory=str(folder))
        handler.log_message = lambda *args: None  # type: ignore[attr-defined]
        self.serve(handler)  # type: ignore[arg-type]


def release_folder(tmp_path: Path, twin, months=MONTHS) -> Path:
    folder = tmp_path / "release"
    (folder / "green").mkdir(parents=True)
    for month in months:
        name = f"green_tripdata_{month}.csv.gz"
        shutil.copy(Path(twin.data_dir) / "green" / name, folder / "green" / name)
    return folder


@pytest.fixture
def release(tmp_path: Path, twin) -> Iterator[tuple[Path, str]]:
    folder = release_folder(tmp_path, twin)
    server = Release(folder)
    try:
        yield folder, server.url
    finally:
        server.stop()


def make_homework(twin, base_url: str, folder: Path) -> subprocess.CompletedProcess[str]:
    env = {**twin.subprocess_env(), "TAXI_DATA_BASE_URL": base_url, "COLUMNS": "200"}
    command = [
        sys.executable,
        "-m",
        "twin.homework",
        "--dir",
        str(folder),
        "--state-dir",
        str(twin.state_dir),
    ]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


def test_make_homework_fetches_the_files_and_prints_the_answers(twin, release, tmp_path: Path):
    source, url = release
    folder = tmp_path / "tlc"
    done = make_homework(twin, url, folder)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    for month in MONTHS:
        name = f"green_tripdata_{month}.csv.gz"
        assert (folder / name).read_bytes() == (source / "green" / name).read_bytes()
    kept = {}
    for month in MONTHS:
        frame = course_frame(folder / f"green_tripdata_{month}.csv.gz", "green")
        kept[month] = frame[(frame["passenger_count"] > 0) & (frame["trip_distance"] > 0)]
    rows = re.search(r"Rows kept: ([\d,]+)", output)
    assert rows and int(rows[1].replace(",", "")) == sum(len(f) for f in kept.values()), output
    days = set().union(*(set(f["lpep_pickup_datetime"].dt.date) for f in kept.values()))
    partitions = re.search(r"lpep_pickup_date partitions in GCS: (\d+)", output)
    assert partitions and int(partitions[1]) == len(days), output
    vendors = sorted(set().union(*(set(f["VendorID"].dropna().astype(int)) for f in kept.values())))
    assert f"vendor_id values: {', '.join(map(str, vendors))}" in output
    assert (
        "Columns renamed to snake_case: 4 (VendorID, RatecodeID, PULocationID, DOLocationID)"
        in output
    )


def test_a_missing_file_ends_in_one_sentence(twin, tmp_path: Path):
    folder = release_folder(tmp_path, twin, months=MONTHS[:2])
    server = Release(folder)
    try:
        done = make_homework(twin, server.url, tmp_path / "tlc")
    finally:
        server.stop()
    assert done.returncode == 1
    errors = [line for line in done.stdout.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "green_tripdata_2020-12.csv.gz" in errors[0], done.stdout[-2000:]
    left = sorted(os.listdir(tmp_path / "tlc"))
    assert left == ["green_tripdata_2020-10.csv.gz", "green_tripdata_2020-11.csv.gz"]

"""README's "Check your homework": the documented single-run command, as printed, against a flat
folder of green files (no ``green/`` level), with ``--test``; the partition count it prints is
the one an independent pandas reading of the same files gives."""

from __future__ import annotations

import csv
import gzip
import io
import re
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest

from mage_project.utils.image_contract import REPO_ROOT as ROOT
from tests.course_reading import course_frame

pytestmark = pytest.mark.twin

README = (ROOT / "README.md").read_text()
PAGES = {"README.md": README, "docs/pipelines.md": (ROOT / "docs" / "pipelines.md").read_text()}
MONTHS = ("2020-10", "2020-11", "2020-12")


def homework_section(text: str) -> str:
    return text.split("## Check your homework", 1)[1].split("\n## ", 1)[0]


def single_run_command(text: str) -> str:
    """The documented one-run form: ``TAXI_DATA_BASE_URL=~/tlc .venv/bin/mage run …``."""
    found = re.findall(r"`?(TAXI_DATA_BASE_URL=~/tlc \.venv/bin/mage run [^`\n#]+)", text)
    assert found, "the homework section documents a TAXI_DATA_BASE_URL=~/tlc run"
    return found[0].strip()


def flat_folder(home: Path, twin, months=MONTHS) -> Path:
    folder = home / "tlc"
    folder.mkdir(parents=True)
    for month in months:
        name = f"green_tripdata_{month}.csv.gz"
        shutil.copy(Path(twin.data_dir) / "green" / name, folder / name)  # flat: no green/
    return folder


def run_documented(command: str, twin, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**twin.subprocess_env(), "HOME": str(home)}
    env.pop("TAXI_DATA_BASE_URL")  # the command sets it
    return subprocess.run(
        ["bash", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


def pg_count(twin, month: str) -> int:
    env = twin.env
    with psycopg.connect(
        host=env["POSTGRES_HOST"], port=env["POSTGRES_PORT"], user=env["POSTGRES_USER"],
        password=env["POSTGRES_PASSWORD"], dbname=env["POSTGRES_DBNAME"], autocommit=True,
    ) as conn:  # fmt: skip
        if conn.execute("SELECT to_regclass('mage.green_taxi')").fetchone()[0] is None:
            return 0
        return conn.execute(
            "SELECT count(*) FROM mage.green_taxi WHERE source_month = %s", (month,)
        ).fetchone()[0]


@pytest.mark.parametrize("page", list(PAGES))
def test_the_documented_homework_commands_run_the_assertions(page: str):
    section = homework_section(PAGES[page])
    runs = re.findall(r"\.venv/bin/mage run mage_project green_taxi_etl[^`\n#]*", section)
    assert runs and all("--test" in r for r in runs), runs
    assert "make down" in section  # a running twin keeps its old files: say so before make up


def test_homework_from_a_flat_folder_as_documented(twin, tmp_path: Path):
    folder = flat_folder(tmp_path, twin)
    done = run_documented(single_run_command(README), twin, tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    frames = {}
    for month in MONTHS:
        frame = course_frame(folder / f"green_tripdata_{month}.csv.gz", "green")
        frames[month] = frame[(frame["passenger_count"] > 0) & (frame["trip_distance"] > 0)]
        assert pg_count(twin, month) == len(frames[month]), month
    days = set().union(*(set(f["lpep_pickup_datetime"].dt.date) for f in frames.values()))
    printed = re.search(r"green_taxi/: (\d+) lpep_pickup_date partitions", output)
    assert printed and int(printed[1]) == len(days)


def test_test_flag_makes_the_homework_assertions_fail_a_bad_file(twin, tmp_path: Path):
    """A flat-folder month with a vendor code the TLC does not use: `--test` stops the run before
    anything is exported."""
    folder = tmp_path / "tlc"
    folder.mkdir()
    source = Path(twin.data_dir) / "green" / "green_tripdata_2020-10.csv.gz"
    with gzip.open(source, "rt", newline="") as handle:
        rows = list(csv.reader(handle))
    vendor = rows[0].index("VendorID")
    for row in rows[1:]:
        row[vendor] = "4"
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows)
    with gzip.open(folder / "green_tripdata_2019-03.csv.gz", "wt", newline="") as handle:
        handle.write(text.getvalue())
    command = single_run_command(README) + """ --runtime-vars '{"months": "2019-03"}'"""
    done = run_documented(command, twin, tmp_path)
    output = " ".join((done.stdout + done.stderr).split())  # the summary wraps long sentences
    assert done.returncode != 0
    assert "are not TLC vendors" in output
    assert pg_count(twin, "2019-03") == 0

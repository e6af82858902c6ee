"""Class 6: resource exhaustion. A full disk while downloading or staging is one sentence (no
partial file left); a pathological line (a header or a value of hundreds of MB) is one sentence
with memory no higher than a normal run's peak.

The disk is a real tiny tmpfs (``mount -t tmpfs -o size=...``: marked ``root``, which `make test`
runs as root; skipped when not permitted). Peaks
are measured in a fresh process (ru_maxrss). On today's code the full disk is a raw
``OSError: [Errno 28]`` (download) or "a truncated or corrupt gzip file" (staging), and a long
header or value is read whole into memory (hundreds of MB) or ends in a raw ``csv.Error``.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from twin.sample_data import write_month

from mage_project.utils import ingest
from mage_project.utils.errors import TaxiDataError
from mage_project.utils.schema import schema_for
from mage_project.utils.slices import MonthSlice
from tests.sinks.sinkkit import month_file

A = MonthSlice("yellow", 2021, 1)
CHILD = Path(__file__).with_name("peak_child.py")
HUGE = 200 << 20  # bytes of the pathological header / value
TOLERANCE_MB = 15  # allocator noise between two fresh processes


@pytest.fixture
def tiny_disk(tmp_path) -> Iterator[Path]:
    """A 256 KiB tmpfs (a disk that fills up), unmounted afterwards."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
                          capture_output=True)  # fmt: skip
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root): " + done.stderr.decode().strip())
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def one_sentence(error: BaseException) -> str:
    text = str(error)
    assert "\n" not in text and text.endswith("."), text
    return text


@pytest.mark.root
@pytest.mark.twin
def test_disk_full_while_downloading_is_one_sentence(sinks, files, tiny_disk, monkeypatch):
    path = write_month(files.root, "yellow", 2021, 1, rows=20_000, seed=61)
    assert path.stat().st_size > 300 << 10, "the file must not fit on the tiny disk"
    monkeypatch.setenv("TAXI_STAGING_DIR", str(tiny_disk))
    with pytest.raises(TaxiDataError) as error:
        ingest.load(A)
    assert "disk is full while writing" in one_sentence(error.value)
    assert not [p for p in tiny_disk.rglob("*") if p.is_file()], "a partial file was left"


@pytest.mark.root
def test_disk_full_while_staging_the_typed_file_is_one_sentence(tmp_path, tiny_disk, monkeypatch):
    write_month(tmp_path / "release", "yellow", 2021, 1, rows=20_000, seed=62)
    monkeypatch.setenv("TAXI_STAGING_DIR", str(tiny_disk))
    staged = ingest.load(A, base_url=str(tmp_path / "release"))  # a local folder: no download
    with pytest.raises(TaxiDataError) as error:
        ingest.transform(staged)
    assert "disk is full while writing" in one_sentence(error.value)
    assert not [p for p in tiny_disk.rglob("*") if p.is_file()], "a partial file was left"


def gzip_stream(path: Path, parts: list[bytes | tuple[bytes, int]]) -> None:
    """Write a gzip file of ``parts``: bytes, or (byte, count) repeated without holding them."""
    packer = zlib.compressobj(1, zlib.DEFLATED, 31)
    block = 1 << 20
    with path.open("wb") as out:
        for part in parts:
            if isinstance(part, tuple):
                piece, count = part
                chunk = piece * block
                for _ in range(count // block):
                    out.write(packer.compress(chunk))
            else:
                out.write(packer.compress(part))
        out.write(packer.flush())


def peak(source: Path, tmp_path: Path) -> dict:
    done = subprocess.run([sys.executable, str(CHILD), str(source), str(tmp_path / "out.parquet")],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def normal_peak(tmp_path_factory) -> float:
    """The peak memory of staging a normal month (20k rows) in a fresh process."""
    root = tmp_path_factory.mktemp("normal")
    result = peak(write_month(root, "yellow", 2021, 1, rows=20_000, seed=63), root)
    assert result["error"] is None
    return result["peak_mb"]


@pytest.mark.parametrize("where", ["header", "value"])
def test_pathological_line_is_one_sentence_in_bounded_memory(tmp_path, normal_peak, where):
    header = ",".join(schema_for("yellow").columns).encode()
    source = month_file(tmp_path, A)
    source.parent.mkdir(parents=True)
    good = gzip.decompress(month_file(write_month(tmp_path / "g", "yellow", 2021, 1, rows=50,
                                                  seed=64).parents[1], A).read_bytes())  # fmt: skip
    first_row = good.split(b"\n")[1]
    if where == "header":
        parts = [header + b",", (b"x", HUGE), b"\n", first_row + b"\n"]
    else:
        fields = first_row.split(b",")
        index = list(schema_for("yellow").columns).index("store_and_fwd_flag")
        parts = [header + b"\n", b",".join(fields[:index]) + b",", (b"N", HUGE),
                 b"," + b",".join(fields[index + 1 :]) + b"\n"]  # fmt: skip
    gzip_stream(source, parts)
    result = peak(source, tmp_path)
    print(f"\nMESSAGE: {result['error']} (peak {result['peak_mb']} MB, normal {normal_peak} MB)")
    assert result["error"] and "\n" not in result["error"], result
    assert "line 1" in result["error"] if where == "header" else "line 2" in result["error"]
    assert result["peak_mb"] <= normal_peak + TOLERANCE_MB, (
        f"peak {result['peak_mb']} MB for a {HUGE >> 20} MB line, normal run {normal_peak} MB"
    )

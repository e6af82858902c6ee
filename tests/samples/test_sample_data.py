"""The synthetic taxi months: real header, formats and quirks; deterministic; atomic; CLI."""

from __future__ import annotations

import gzip
import io
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from twin import sample_data

from mage_project.utils.image_contract import REPO_ROOT as ROOT
from tests.course_reading import COURSE_DTYPES, GREEN_DTYPES

REAL_YELLOW_HEAD = ROOT.parent / "shared" / "data" / "yellow_tripdata_2021-01_head.csv.gz"
DOCUMENTED_YELLOW = (
    "VendorID,tpep_pickup_datetime,tpep_dropoff_datetime,passenger_count,trip_distance,"
    "RatecodeID,store_and_fwd_flag,PULocationID,DOLocationID,payment_type,fare_amount,extra,"
    "mta_tax,tip_amount,tolls_amount,improvement_surcharge,total_amount,congestion_surcharge"
)
DOCUMENTED_GREEN = (
    "VendorID,lpep_pickup_datetime,lpep_dropoff_datetime,store_and_fwd_flag,RatecodeID,"
    "PULocationID,DOLocationID,passenger_count,trip_distance,fare_amount,extra,mta_tax,"
    "tip_amount,tolls_amount,ehail_fee,improvement_surcharge,total_amount,payment_type,"
    "trip_type,congestion_surcharge"
)

DATETIME = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}"
INTEGER = r"-?\d+"
DISTANCE = r"\d*\.\d{2}"  # ".20", "2.10": two decimals, no leading zero
MONEY = r"-?\d+(\.\d{1,2})?"  # "8", "0.5", "-6.12": shortest form, no trailing zeros
MONEY_COLUMNS = sample_data.MONEY_COLUMNS
FORMATS = {
    "VendorID": INTEGER,
    "tpep_pickup_datetime": DATETIME,
    "tpep_dropoff_datetime": DATETIME,
    "lpep_pickup_datetime": DATETIME,
    "lpep_dropoff_datetime": DATETIME,
    "passenger_count": INTEGER,
    "trip_distance": DISTANCE,
    "RatecodeID": INTEGER,
    "store_and_fwd_flag": r"[YN]",
    "PULocationID": INTEGER,
    "DOLocationID": INTEGER,
    "payment_type": INTEGER,
    "trip_type": INTEGER,
    **dict.fromkeys(MONEY_COLUMNS, MONEY),
}


def _text(path: Path) -> pd.DataFrame:
    """The file as raw text cells (no type conversion), empty cells as ''."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _header(path: Path) -> str:
    with gzip.open(path, "rt") as f:
        return f.readline().rstrip("\n")


@pytest.fixture(scope="module")
def medium(tmp_path_factory) -> dict[str, Path]:
    """20,000-row months: big enough for stable proportions, small enough to be quick."""
    out = tmp_path_factory.mktemp("medium")
    return {
        "yellow": sample_data.write_month(out, "yellow", 2021, 1, rows=20_000),
        "green": sample_data.write_month(out, "green", 2020, 10, rows=20_000),
    }


@pytest.fixture(scope="module")
def defaults(tmp_path_factory) -> list[Path]:
    return sample_data.generate(tmp_path_factory.mktemp("defaults"))


# --- layout, header, formats -----------------------------------------------------------------


def test_generate_writes_the_release_layout_with_default_row_counts(defaults, tmp_path):
    names = sorted(p.relative_to(p.parents[1]).as_posix() for p in defaults)
    assert names == [
        "green/green_tripdata_2020-10.csv.gz",
        "green/green_tripdata_2020-11.csv.gz",
        "green/green_tripdata_2020-12.csv.gz",
        "yellow/yellow_tripdata_2021-01.csv.gz",
    ]
    for path in defaults:
        assert len(_text(path)) == sample_data.DEFAULT_ROWS


def test_explicit_row_count_is_honoured(tmp_path):
    path = sample_data.write_month(tmp_path, "green", 2020, 11, rows=137)
    assert len(_text(path)) == 137


def test_full_sizes_are_the_real_release_counts():
    assert sample_data.full_rows("yellow", 2021, 1) == 1_369_765
    assert [sample_data.full_rows("green", 2020, m) for m in (10, 11, 12)] == [
        95_120,
        88_605,
        83_130,
    ]


def test_headers_are_the_documented_ones(medium):
    assert _header(medium["yellow"]) == DOCUMENTED_YELLOW
    assert _header(medium["green"]) == DOCUMENTED_GREEN


@pytest.mark.skipif(not REAL_YELLOW_HEAD.exists(), reason="real TLC sample not available")
def test_yellow_header_equals_the_real_file(medium):
    assert _header(medium["yellow"]) == _header(REAL_YELLOW_HEAD)


@pytest.mark.skipif(not REAL_YELLOW_HEAD.exists(), reason="real TLC sample not available")
def test_format_rules_hold_on_the_real_file():
    """Guards the format rules below: they must describe the real TLC text, not just ours."""
    real = _text(REAL_YELLOW_HEAD)
    for column in real.columns:
        values = real[column][real[column] != ""]
        assert values.str.fullmatch(FORMATS[column]).all(), column


@pytest.mark.parametrize("color", ["yellow", "green"])
def test_every_cell_has_the_real_text_format(medium, color):
    frame = _text(medium[color])
    for column in frame.columns:
        values = frame[column][frame[column] != ""]
        if column == "ehail_fee":
            assert values.empty
            continue
        bad = values[~values.str.fullmatch(FORMATS[column])]
        assert bad.empty, f"{column}: {bad.head().tolist()}"


def test_money_uses_the_shortest_form(medium):
    frame = _text(medium["yellow"])
    money = pd.concat([frame[c] for c in MONEY_COLUMNS])
    assert {"0", "0.5", "0.3", "2.5"} <= set(money)
    assert not money.str.contains(r"\.\d*0$").any()  # never "0.50" or "8.0"


@pytest.mark.parametrize("color", ["yellow", "green"])
def test_parses_with_the_course_dtypes(medium, color):
    dtypes = COURSE_DTYPES if color == "yellow" else GREEN_DTYPES
    prefix = "tpep" if color == "yellow" else "lpep"
    dates = [f"{prefix}_pickup_datetime", f"{prefix}_dropoff_datetime"]
    frame = pd.read_csv(medium[color], dtype=dtypes, parse_dates=dates)
    assert len(frame) == 20_000
    assert all(pd.api.types.is_datetime64_any_dtype(frame[c]) for c in dates)
    assert (frame[dates[1]] >= frame[dates[0]]).all()
    assert frame["PULocationID"].between(1, 265).all()
    paid = frame.dropna(subset=["payment_type"])
    parts = ["fare_amount", "extra", "mta_tax", "tip_amount", "tolls_amount"]
    parts += ["improvement_surcharge", "congestion_surcharge"]
    total = paid[parts].fillna(0).sum(axis=1)
    assert (total - paid["total_amount"]).abs().max() < 0.011


# --- quirks ----------------------------------------------------------------------------------


def test_yellow_quirks(medium):
    frame = _text(medium["yellow"])
    n = len(frame)
    empty = frame["VendorID"] == ""
    # The empty-vendor block sits at the end of the file, as in the real 2021-01 file (~7%).
    first_empty = empty.idxmax()
    assert empty[first_empty:].all()
    assert 0.06 < empty.mean() < 0.085
    for column in ["passenger_count", "RatecodeID", "store_and_fwd_flag", "payment_type"]:
        assert (frame.loc[empty, column] == "").all()
        assert (frame.loc[~empty, column] != "").all()
    assert (frame.loc[empty, "congestion_surcharge"] == "").all()
    assert 0.01 < (frame["passenger_count"] == "0").sum() / n < 0.03
    assert (frame["trip_distance"] == ".00").sum() > 0.005 * n
    assert frame["fare_amount"].str.startswith("-").sum() > 0.003 * n


def test_green_quirks(medium):
    frame = _text(medium["green"])
    n = len(frame)
    empty = frame["VendorID"] == ""
    assert 0.42 < empty.mean() < 0.48
    same_rows = ["store_and_fwd_flag", "RatecodeID", "passenger_count", "payment_type"]
    for column in [*same_rows, "trip_type", "congestion_surcharge"]:
        assert ((frame[column] == "") == empty).all(), column
    assert frame.loc[empty, "lpep_pickup_datetime"].str.endswith(":00").all()
    assert not frame.loc[~empty, "lpep_pickup_datetime"].str.endswith(":00").all()
    assert (frame["ehail_fee"] == "").all()
    assert set(frame.loc[~empty, "VendorID"]) == {"1", "2"}
    assert (frame["passenger_count"] == "0").sum() > 0.005 * n
    assert (frame["trip_distance"] == ".00").sum() > 0.01 * n
    assert frame["fare_amount"].str.startswith("-").any()


@pytest.mark.parametrize("index", [0, 1, 2, 3])
def test_small_samples_still_have_out_of_month_pickups(defaults, index):
    """Even the 2,000-row default carries 2008/2009 and adjacent-month pickups that the
    homework filter keeps (passenger_count > 0, trip_distance > 0)."""
    frame = _text(defaults[index])
    pickup = frame.filter(like="pickup_datetime").iloc[:, 0]
    month = re.search(r"(\d{4}-\d{2})\.csv", defaults[index].name).group(1)
    outside = frame[~pickup.str.startswith(month)]
    years = set(outside.filter(like="pickup_datetime").iloc[:, 0].str[:4])
    assert {"2008", "2009"} <= years
    assert len(outside) >= 4
    assert (outside["passenger_count"].astype(int) > 0).all()
    assert (outside["trip_distance"] != ".00").all()


# --- determinism, idempotence, atomic writes ------------------------------------------------


def test_same_seed_and_parameters_give_identical_bytes(tmp_path):
    a = sample_data.write_month(tmp_path / "a", "yellow", 2021, 1, rows=3_000, seed=7)
    b = sample_data.write_month(tmp_path / "b", "yellow", 2021, 1, rows=3_000, seed=7)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes()[4:8] == b"\0\0\0\0"  # gzip mtime is zero


def test_other_seed_or_month_gives_other_data(tmp_path):
    base = sample_data.write_month(tmp_path / "a", "green", 2020, 10, rows=500).read_bytes()
    seed = sample_data.write_month(tmp_path / "b", "green", 2020, 10, rows=500, seed=1)
    month = sample_data.write_month(tmp_path / "c", "green", 2020, 11, rows=500)
    assert base != seed.read_bytes()
    assert (
        gzip.decompress(base).splitlines()[1] != gzip.decompress(month.read_bytes()).splitlines()[1]
    )


def test_generate_skips_current_files_and_rewrites_changed_ones(tmp_path):
    months = [("green", 2020, 12)]
    (path,) = sample_data.generate(tmp_path, rows=300, months=months)
    stamp = path.stat().st_mtime_ns
    sample_data.generate(tmp_path, rows=300, months=months)
    assert path.stat().st_mtime_ns == stamp
    sample_data.generate(tmp_path, rows=400, months=months)
    assert len(_text(path)) == 400
    path.write_bytes(path.read_bytes()[:100])  # a damaged file is regenerated
    sample_data.generate(tmp_path, rows=400, months=months)
    assert len(_text(path)) == 400


def test_a_failed_write_leaves_nothing_behind(tmp_path, monkeypatch):
    def explode(columns, rows):
        yield b"partial\n"
        raise RuntimeError("disk full")

    monkeypatch.setattr(sample_data, "_render_csv", explode)
    with pytest.raises(RuntimeError):
        sample_data.write_month(tmp_path, "yellow", 2021, 1, rows=50)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("purple", 2021, 1), "Unknown taxi colour 'purple'"),
        (("green", 2020, 13), "Month must be 1-12, got 13"),
        (("green", 1999, 1), "Year must be between 2009 and 2100"),
    ],
)
def test_bad_parameters_are_rejected_with_one_sentence(tmp_path, args, message):
    with pytest.raises(ValueError, match=message):
        sample_data.write_month(tmp_path, *args, rows=10)
    assert not any(tmp_path.iterdir())


def test_rows_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="rows must be a positive whole number"):
        sample_data.write_month(tmp_path, "green", 2020, 10, rows=0)


# --- CLI -------------------------------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "twin.sample_data", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_writes_the_requested_months(tmp_path):
    result = _cli("--out", str(tmp_path), "--rows", "120", "--month", "green:2021-02")
    assert result.returncode == 0, result.stderr
    path = tmp_path / "green" / "green_tripdata_2021-02.csv.gz"
    assert result.stdout.strip() == str(path)
    frame = pd.read_csv(io.BytesIO(path.read_bytes()), compression="gzip")
    assert len(frame) == 120


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rows", "5", "--full"], "not allowed with argument"),
        (["--rows", "0"], "--rows must be a positive whole number"),
        (["--month", "purple:2020-01"], "Unknown taxi colour 'purple'"),
        (["--month", "green-2020-01"], "is not COLOR:YYYY-MM"),
    ],
)
def test_cli_rejects_bad_arguments(tmp_path, args, message):
    result = _cli("--out", str(tmp_path), *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert not any(tmp_path.iterdir())

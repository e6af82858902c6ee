"""TAXI_DATA_BASE_URL as a local folder: the release layout or a flat folder of downloads."""

from pathlib import Path

import pytest

from mage_project.utils.download import local_month_file
from mage_project.utils.errors import TaxiDataError
from mage_project.utils.slices import MonthSlice

MONTH = MonthSlice("green", 2020, 10)


def test_release_layout(tmp_path: Path):
    (tmp_path / "green").mkdir()
    (tmp_path / "green" / MONTH.file_name).write_bytes(b"x")
    assert local_month_file(tmp_path, MONTH) == tmp_path / "green" / MONTH.file_name


def test_flat_folder(tmp_path: Path):
    (tmp_path / MONTH.file_name).write_bytes(b"x")
    assert local_month_file(tmp_path, MONTH) == tmp_path / MONTH.file_name


def test_tilde_is_the_home_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / MONTH.file_name).write_bytes(b"x")
    assert local_month_file(Path("~"), MONTH) == tmp_path / MONTH.file_name


def test_missing_month_names_both_places(tmp_path: Path):
    with pytest.raises(TaxiDataError) as error:
        local_month_file(tmp_path, MONTH)
    assert str(error.value) == (
        f"green_tripdata_2020-10.csv.gz is in neither {tmp_path / 'green'} nor {tmp_path}: "
        "that month is not in the folder TAXI_DATA_BASE_URL points at."
    )

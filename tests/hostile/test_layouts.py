"""Class 10: TLC's older layouts. A genuine file from before TLC added ``congestion_surcharge``
(every month before 2019-01) loads, the column NULL in every sink; a later file without it is
refused as cut or edited; TLC's layout before 2016-07 (coordinates, no taxi zones) is refused
with what to load instead. On the old code all three were "missing the required column …;
replace it with the original file", which is wrong advice for a genuine older file.
"""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from mage_project.utils.errors import TaxiDataError
from mage_project.utils.header import check_header, read_header
from mage_project.utils.schema import LATER_COLUMNS, schema_for
from mage_project.utils.slices import MonthSlice
from mage_project.utils.transform import stage_typed
from tests.sinks.sinkkit import row, write_rows


def older_file(tmp_path, color: str, year: int, month: int, drop: set[str]):
    slice_ = MonthSlice(color, year, month)
    header = [c for c in schema_for(color).columns if c not in drop]
    rows = [row(color, f"{year}-{month:02d}-0{d} 08:00:00", passenger_count="2") for d in (1, 2, 3)]
    return slice_, write_rows(tmp_path / "served", slice_, rows, header=header)


@pytest.mark.parametrize("color", ["yellow", "green"])
@pytest.mark.parametrize(("year", "month"), [(2017, 3), (2018, 12)])
def test_a_file_from_before_congestion_surcharge_loads_it_as_null(tmp_path, color, year, month):
    slice_, path = older_file(tmp_path, color, year, month, {"congestion_surcharge"})
    typed = stage_typed(path, color, slice_.name, tmp_path / "typed.parquet")
    assert typed.rows_kept == 3 and typed.null_columns == ["congestion_surcharge"]
    table = pq.read_table(typed.path)
    assert table["congestion_surcharge"].null_count == 3
    assert table.schema == schema_for(color).sink_schema


@pytest.mark.parametrize("color", ["yellow", "green"])
def test_a_later_file_without_congestion_surcharge_is_refused_as_edited(tmp_path, color):
    slice_, path = older_file(tmp_path, color, 2021, 1, {"congestion_surcharge"})
    with pytest.raises(TaxiDataError) as error:
        stage_typed(path, color, slice_.name, tmp_path / "typed.parquet")
    assert str(error.value) == (
        f"{slice_.file_name} lacks the column congestion_surcharge, which every {color} file "
        f"from {LATER_COLUMNS['congestion_surcharge']} on has; the file was cut or edited, "
        "replace it with the original and re-run."
    )


def test_an_older_file_missing_another_column_is_still_refused(tmp_path):
    slice_, path = older_file(tmp_path, "yellow", 2018, 5, {"congestion_surcharge", "tip_amount"})
    with pytest.raises(TaxiDataError, match="missing the required column tip_amount"):
        stage_typed(path, "yellow", slice_.name, tmp_path / "typed.parquet")


def test_the_layout_from_before_july_2016_is_refused_with_what_to_load(tmp_path):
    header = ["VendorID", "tpep_pickup_datetime", "tpep_dropoff_datetime", "passenger_count",
              "trip_distance", "pickup_longitude", "pickup_latitude", "RatecodeID",
              "store_and_fwd_flag", "dropoff_longitude", "dropoff_latitude", "payment_type",
              "fare_amount", "extra", "mta_tax", "tip_amount", "tolls_amount",
              "improvement_surcharge", "total_amount"]  # fmt: skip
    slice_ = MonthSlice("yellow", 2016, 1)
    path = write_rows(tmp_path / "served", slice_, [row("yellow")], header=header)
    with pytest.raises(TaxiDataError) as error:
        check_header(read_header(path, path.name), "yellow", path.name, slice_.name)
    text = str(error.value)
    assert "layout from before July 2016" in text and "load months from 2016-07 on" in text
    assert "replace it with the original" not in text

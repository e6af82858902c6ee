"""Tiny TLC-shaped rows for tests that write their own CSV files."""

from __future__ import annotations

from mage_project.utils.image_contract import REPO_ROOT
from mage_project.utils.schema import schema_for

SHARED_DATA = REPO_ROOT / ".." / "shared" / "data"


def row(color: str, **values: str) -> dict[str, str]:
    """A valid row of ``color`` with some fields overridden."""
    prefix = "tpep" if color == "yellow" else "lpep"
    base = {c: "1" for c in schema_for(color).columns}
    base.update(
        {
            f"{prefix}_pickup_datetime": "2021-01-05 10:00:00",
            f"{prefix}_dropoff_datetime": "2021-01-05 10:12:00",
        }
    )
    base.update(
        {"store_and_fwd_flag": "N", "trip_distance": "2.5", "fare_amount": "9.5", "ehail_fee": ""}
    )
    base.update(values)
    return base

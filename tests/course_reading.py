"""How the course reads a taxi month: ``pd.read_csv`` with its dtype map (DataTalksClub module 2),
extended to green's extra columns. Tests compare the project's results with this reading."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

COURSE_DTYPES = {
    "VendorID": pd.Int64Dtype(),
    "passenger_count": pd.Int64Dtype(),
    "trip_distance": float,
    "RatecodeID": pd.Int64Dtype(),
    "store_and_fwd_flag": str,
    "PULocationID": pd.Int64Dtype(),
    "DOLocationID": pd.Int64Dtype(),
    "payment_type": pd.Int64Dtype(),
    "fare_amount": float,
    "extra": float,
    "mta_tax": float,
    "tip_amount": float,
    "tolls_amount": float,
    "improvement_surcharge": float,
    "total_amount": float,
    "congestion_surcharge": float,
}
GREEN_DTYPES = {**COURSE_DTYPES, "ehail_fee": float, "trip_type": pd.Int64Dtype()}


def course_frame(path: Path, color: str) -> pd.DataFrame:
    """The month as the course reads it (timestamps parsed)."""
    prefix = "tpep" if color == "yellow" else "lpep"
    return pd.read_csv(
        path,
        compression="gzip",
        dtype=COURSE_DTYPES if color == "yellow" else GREEN_DTYPES,
        parse_dates=[f"{prefix}_pickup_datetime", f"{prefix}_dropoff_datetime"],
    )

"""Deterministic NYC TLC taxi months with the real columns, formats and quirks.

Files land in the release layout ``<out>/<color>/<color>_tripdata_<YYYY>-<MM>.csv.gz`` so the
local file server (and ``TAXI_DATA_BASE_URL``) can serve them exactly like the DataTalksClub
release. The same seed and parameters always give byte-identical gzip files.

Quirks reproduced (see ``../shared/data/README.md``):

- yellow: ~7% of rows at the end of the file with VendorID, passenger_count, RatecodeID,
  store_and_fwd_flag, payment_type and congestion_surcharge empty; passenger_count 0 in ~2%.
- green: ~45% of rows with VendorID, store_and_fwd_flag, RatecodeID, passenger_count,
  payment_type, trip_type and congestion_surcharge empty, picked up on whole minutes;
  ehail_fee always empty.
- both: trip_distance 0 and passenger_count 0, refunds with negative amounts, and a few pickups
  outside the month, including 2008-12-31 and 2009-01-01 (present even in small samples).

Usage: ``python -m twin.sample_data --out DIR [--rows N | --full] [--month yellow:2021-01]``.
"""

from __future__ import annotations

import argparse
import calendar
import gzip
import json
import os
import sys
import tempfile
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

GENERATOR_VERSION = 1
DEFAULT_ROWS = 2_000
DEFAULT_MONTHS: list[tuple[str, int, int]] = [
    ("yellow", 2021, 1),
    ("green", 2020, 10),
    ("green", 2020, 11),
    ("green", 2020, 12),
]
# Row counts of the real release files; other months default to their colour's typical size.
FULL_ROWS: dict[tuple[str, int, int], int] = {
    ("yellow", 2021, 1): 1_369_765,
    ("green", 2020, 10): 95_120,
    ("green", 2020, 11): 88_605,
    ("green", 2020, 12): 83_130,
}
TYPICAL_FULL_ROWS = {"yellow": 1_369_765, "green": 90_000}

#: The dollar-amount columns of both colours (yellow lists them last, in this order).
MONEY_COLUMNS = [
    "fare_amount",
    "extra",
    "mta_tax",
    "tip_amount",
    "tolls_amount",
    "improvement_surcharge",
    "total_amount",
    "congestion_surcharge",
]
YELLOW_COLUMNS = [
    "VendorID",
    "tpep_pickup_datetime",
    "tpep_dropoff_datetime",
    "passenger_count",
    "trip_distance",
    "RatecodeID",
    "store_and_fwd_flag",
    "PULocationID",
    "DOLocationID",
    "payment_type",
    *MONEY_COLUMNS,
]
GREEN_COLUMNS = [
    "VendorID",
    "lpep_pickup_datetime",
    "lpep_dropoff_datetime",
    "store_and_fwd_flag",
    "RatecodeID",
    "PULocationID",
    "DOLocationID",
    "passenger_count",
    "trip_distance",
    "fare_amount",
    "extra",
    "mta_tax",
    "tip_amount",
    "tolls_amount",
    "ehail_fee",
    "improvement_surcharge",
    "total_amount",
    "payment_type",
    "trip_type",
    "congestion_surcharge",
]
COLUMNS = {"yellow": YELLOW_COLUMNS, "green": GREEN_COLUMNS}

# Share of rows with the "empty vendor" block and of rows with passenger_count 0 / distance 0.
EMPTY_VENDOR_SHARE = {"yellow": 98_352 / 1_369_765, "green": 0.45}
ZERO_PASSENGER_SHARE = {"yellow": 0.021, "green": 0.025}
ZERO_DISTANCE_SHARE = {"yellow": 0.015, "green": 0.03}
REFUND_SHARE = 0.009
OUT_OF_MONTH_SHARE = 1e-4
MIN_OUT_OF_MONTH = 4
RENDER_CHUNK = 250_000

_HOUR_WEIGHTS = np.array(
    [3, 2, 1.5, 1, 1, 1.5, 3, 5, 6, 6, 6, 6.5, 7, 7, 7.5, 8, 8, 8.5, 8.5, 8, 7, 6.5, 6, 4.5]
)


def month_path(out_dir: Path, color: str, year: int, month: int) -> Path:
    """Where the release layout puts a month: ``<out>/<color>/<color>_tripdata_<YYYY>-<MM>.csv.gz``."""
    return Path(out_dir) / color / f"{color}_tripdata_{year:04d}-{month:02d}.csv.gz"


def full_rows(color: str, year: int, month: int) -> int:
    """Row count of the real release file for that month (typical size if unknown)."""
    _check_month(color, year, month)
    return FULL_ROWS.get((color, year, month), TYPICAL_FULL_ROWS[color])


def write_month(
    out_dir: Path, color: str, year: int, month: int, rows: int | None = None, seed: int = 0
) -> Path:
    """Write one synthetic month (``rows`` default: DEFAULT_ROWS) atomically; return its path."""
    _check_month(color, year, month)
    rows = DEFAULT_ROWS if rows is None else rows
    if not isinstance(rows, int) or rows < 1:
        raise ValueError(f"rows must be a positive whole number, got {rows!r}.")
    path = month_path(out_dir, color, year, month)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = _month_columns(color, year, month, rows, seed)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as raw:
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz:
                gz.write((",".join(COLUMNS[color]) + "\n").encode())
                for chunk in _render_csv(columns, rows):
                    gz.write(chunk)
            raw.flush()
            os.fsync(raw.fileno())
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    _write_params(path, _params(color, year, month, rows, seed))
    return path


def generate(
    out_dir: Path,
    rows: int | None = None,
    full: bool = False,
    *,
    months: Iterable[tuple[str, int, int]] = DEFAULT_MONTHS,
    seed: int = 0,
) -> list[Path]:
    """Write every month in ``months``, skipping files already generated with the same parameters."""
    if full and rows is not None:
        raise ValueError("Pass either rows or full=True, not both.")
    paths = []
    for color, year, month in months:
        n = full_rows(color, year, month) if full else (DEFAULT_ROWS if rows is None else rows)
        path = month_path(out_dir, color, year, month)
        if not _is_current(path, _params(color, year, month, n, seed)):
            write_month(out_dir, color, year, month, rows=n, seed=seed)
        paths.append(path)
    return paths


# --- parameters sidecar (makes generate() idempotent) -------------------------------------


def _params(color: str, year: int, month: int, rows: int, seed: int) -> dict[str, object]:
    return {
        "version": GENERATOR_VERSION,
        "color": color,
        "year": year,
        "month": month,
        "rows": rows,
        "seed": seed,
    }


def _params_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.json")


def _write_params(path: Path, params: dict[str, object]) -> None:
    sidecar = _params_path(path)
    tmp = sidecar.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({**params, "bytes": path.stat().st_size}, sort_keys=True))
    os.replace(tmp, sidecar)


def _is_current(path: Path, params: dict[str, object]) -> bool:
    try:
        recorded = json.loads(_params_path(path).read_text())
        return recorded == {**params, "bytes": path.stat().st_size}
    except (OSError, ValueError):
        return False


# --- validation ---------------------------------------------------------------------------


def _check_month(color: str, year: int, month: int) -> None:
    if color not in COLUMNS:
        raise ValueError(f"Unknown taxi colour {color!r}: use one of {sorted(COLUMNS)}.")
    if not (isinstance(month, int) and 1 <= month <= 12):
        raise ValueError(f"Month must be 1-12, got {month!r}.")
    if not (isinstance(year, int) and 2009 <= year <= 2100):
        raise ValueError(f"Year must be between 2009 and 2100, got {year!r}.")


# --- generation ---------------------------------------------------------------------------


def _rng(color: str, year: int, month: int, rows: int, seed: int) -> np.random.Generator:
    colour_code = list(COLUMNS).index(color)
    return np.random.default_rng(np.random.SeedSequence([seed, colour_code, year, month, rows]))


def _month_columns(color: str, year: int, month: int, rows: int, seed: int) -> dict[str, pa.Array]:
    rng = _rng(color, year, month, rows, seed)
    trips = _trips(rng, color, year, month, rows)
    if color == "yellow":
        return _yellow_columns(rng, trips)
    return _green_columns(rng, trips)


def _epoch(year: int, month: int, day: int = 1) -> int:
    return calendar.timegm(datetime(year, month, day).timetuple())


def _trips(
    rng: np.random.Generator, color: str, year: int, month: int, rows: int
) -> dict[str, np.ndarray]:
    """Columns shared by both colours, as numpy arrays (row order = file order)."""
    n_empty = int(round(rows * EMPTY_VENDOR_SHARE[color]))
    n_out = min(max(MIN_OUT_OF_MONTH, int(round(rows * OUT_OF_MONTH_SHARE))), rows // 5)
    n_vendor = rows - n_empty

    start = _epoch(year, month)
    days = calendar.monthrange(year, month)[1]
    pickup = _pickup_seconds(rng, start, days, rows)
    empty = np.zeros(rows, dtype=bool)
    empty[n_vendor:] = True
    if color == "green":  # the empty-vendor (dispatched) trips are booked on whole minutes
        pickup[empty] -= pickup[empty] % 60
    # File order: vendor rows by pickup time, then the empty-vendor block by pickup time.
    pickup[:n_vendor].sort()
    pickup[n_vendor:].sort()

    out_rows = rng.choice(n_vendor, size=n_out, replace=False) if n_out else np.array([], int)
    pickup[out_rows] = _out_of_month_pickups(rng, year, month, n_out)

    distance = np.round(rng.lognormal(np.log(1.9), 0.85, rows), 2)
    distance = np.minimum(distance, 60.0)
    distance[rng.random(rows) < ZERO_DISTANCE_SHARE[color]] = 0.0
    distance[out_rows] = np.maximum(distance[out_rows], 0.5)
    speed_mph = np.clip(rng.lognormal(np.log(11), 0.35, rows), 3, 45)
    duration = (distance / speed_mph * 3600 + rng.integers(30, 240, rows)).astype(np.int64)
    duration = np.minimum(duration, 3 * 3600)
    if color == "green":
        duration[empty] -= duration[empty] % 60

    passengers = rng.choice(
        [1, 2, 3, 4, 5, 6], size=rows, p=[0.72, 0.15, 0.045, 0.022, 0.033, 0.03]
    )
    passengers[rng.random(rows) < ZERO_PASSENGER_SHARE[color]] = 0
    passengers[out_rows] = np.maximum(passengers[out_rows], 1)

    zones = _zone_sampler(rng)
    return {
        "empty": empty,
        "pickup": pickup,
        "dropoff": pickup + duration,
        "minutes": duration / 60.0,
        "distance": distance,
        "passengers": passengers,
        "pu": zones(rows),
        "do": zones(rows),
        "refund": rng.random(rows) < REFUND_SHARE,
        "store_fwd_y": rng.random(rows) < 0.017,
    }


def _pickup_seconds(rng: np.random.Generator, start: int, days: int, n: int) -> np.ndarray:
    day = rng.integers(0, days, n)
    hour = rng.choice(24, size=n, p=_HOUR_WEIGHTS / _HOUR_WEIGHTS.sum())
    second = rng.integers(0, 3600, n)
    return start + day * 86_400 + hour * 3600 + second


def _out_of_month_pickups(rng: np.random.Generator, year: int, month: int, n: int) -> np.ndarray:
    """Pickups the TLC files carry outside their month: 2008/2009 glitches and adjacent days."""
    prev_last = _epoch(year, month) - 86_400
    next_first = _epoch(year + (month == 12), month % 12 + 1)
    anchors = np.array(
        [_epoch(2008, 12, 31) + 23 * 3600, _epoch(2009, 1, 1), prev_last + 23 * 3600, next_first]
    )
    base = anchors[np.arange(n) % len(anchors)]
    return base + rng.integers(0, 3600, n)


def _zone_sampler(rng: np.random.Generator):
    """Skewed pickup/drop-off zones 1-265 (a few busy Manhattan-like zones, a long tail)."""
    order = rng.permutation(np.arange(1, 266))
    weights = 1.0 / np.arange(1, 266) ** 1.1
    weights /= weights.sum()
    return lambda n: rng.choice(order, size=n, p=weights)


def _fares(trips: dict[str, np.ndarray]) -> np.ndarray:
    """Metered fare in cents: $2.50 + $2.50/mile + $0.35/minute, rounded to 50 cents."""
    fare = 2.5 + 2.5 * trips["distance"] + 0.35 * trips["minutes"]
    return (np.round(fare * 2) * 50).astype(np.int64)


def _tips(rng: np.random.Generator, fare: np.ndarray, card: np.ndarray) -> np.ndarray:
    rate = rng.uniform(0.12, 0.30, fare.size)
    tip = np.round(fare * rate).astype(np.int64)
    tip[~card | (rng.random(fare.size) < 0.12)] = 0
    return tip


def _yellow_columns(rng: np.random.Generator, t: dict[str, np.ndarray]) -> dict[str, pa.Array]:
    rows = t["pickup"].size
    empty = t["empty"]
    ratecode = rng.choice(
        [1, 2, 5, 3, 4, 99], size=rows, p=[0.968, 0.021, 0.009, 0.0012, 0.0007, 0.0001]
    )
    payment = rng.choice([1, 2, 3, 4], size=rows, p=[0.667, 0.316, 0.01, 0.007])
    fare = _fares(t)
    fare[ratecode == 2] = 5200
    extra = rng.choice(
        [0, 50, 250, 300, 100, 350], size=rows, p=[0.52, 0.19, 0.18, 0.07, 0.025, 0.015]
    )
    mta = np.where(rng.random(rows) < 0.99, 50, 0)
    tip = _tips(rng, fare, payment == 1)
    tolls = rng.choice([0, 612, 1175, 280, 1224], size=rows, p=[0.953, 0.043, 0.002, 0.001, 0.001])
    congestion = np.where(rng.random(rows) < 0.85, 250, 0)
    refund = t["refund"]
    payment[refund] = rng.choice([3, 4, 2], size=int(refund.sum()), p=[0.45, 0.45, 0.1])
    columns = {
        "VendorID": _ints(rng.choice([2, 1], size=rows, p=[0.69, 0.31]), empty),
        "tpep_pickup_datetime": _timestamps(t["pickup"]),
        "tpep_dropoff_datetime": _timestamps(t["dropoff"]),
        "passenger_count": _ints(t["passengers"], empty),
        "trip_distance": _distance(t["distance"]),
        "RatecodeID": _ints(ratecode, empty),
        "store_and_fwd_flag": _flags(t["store_fwd_y"], empty),
        "PULocationID": _ints(t["pu"]),
        "DOLocationID": _ints(t["do"]),
        "payment_type": _ints(payment, empty),
        **_amounts(fare, extra, mta, tip, tolls, congestion, refund, empty),
    }
    return {name: columns[name] for name in YELLOW_COLUMNS}


def _green_columns(rng: np.random.Generator, t: dict[str, np.ndarray]) -> dict[str, pa.Array]:
    rows = t["pickup"].size
    empty = t["empty"]
    ratecode = rng.choice([1, 5, 2, 3, 4], size=rows, p=[0.93, 0.05, 0.01, 0.005, 0.005])
    payment = rng.choice([1, 2, 3, 4], size=rows, p=[0.52, 0.46, 0.012, 0.008])
    fare = _fares(t)
    # Dispatched (empty-vendor) trips carry upfront prices with arbitrary cents.
    fare[empty] = np.round(fare[empty] * rng.uniform(0.8, 1.4, int(empty.sum()))).astype(np.int64)
    extra = np.where(
        empty,
        np.where(rng.random(rows) < 0.5, 275, 0),
        rng.choice([0, 50, 100], size=rows, p=[0.55, 0.3, 0.15]),
    )
    mta = np.where(empty, 0, np.where(rng.random(rows) < 0.98, 50, 0))
    tip = _tips(rng, fare, (payment == 1) & ~empty)
    tolls = rng.choice([0, 612, 655], size=rows, p=[0.975, 0.02, 0.005])
    congestion = np.where(rng.random(rows) < 0.2, 275, 0)
    refund = t["refund"]
    payment[refund] = rng.choice([3, 4], size=int(refund.sum()))
    columns = {
        "VendorID": _ints(rng.choice([2, 1], size=rows, p=[0.85, 0.15]), empty),
        "lpep_pickup_datetime": _timestamps(t["pickup"]),
        "lpep_dropoff_datetime": _timestamps(t["dropoff"]),
        "store_and_fwd_flag": _flags(t["store_fwd_y"], empty),
        "RatecodeID": _ints(ratecode, empty),
        "PULocationID": _ints(t["pu"]),
        "DOLocationID": _ints(t["do"]),
        "passenger_count": _ints(t["passengers"], empty),
        "trip_distance": _distance(t["distance"]),
        "ehail_fee": pa.nulls(rows, pa.string()),
        "payment_type": _ints(payment, empty),
        "trip_type": _ints(rng.choice([1, 2], size=rows, p=[0.97, 0.03]), empty),
        **_amounts(fare, extra, mta, tip, tolls, congestion, refund, empty),
    }
    return {name: columns[name] for name in GREEN_COLUMNS}


def _amounts(
    fare: np.ndarray,
    extra: np.ndarray,
    mta: np.ndarray,
    tip: np.ndarray,
    tolls: np.ndarray,
    congestion: np.ndarray,
    refund: np.ndarray,
    empty: np.ndarray,
) -> dict[str, pa.Array]:
    """The MONEY_COLUMNS from their parts in cents (improvement_surcharge 0.30 on every trip):
    refunds negated, total_amount the sum, congestion_surcharge blank where the vendor is."""
    parts = {
        "fare_amount": fare,
        "extra": extra,
        "mta_tax": mta,
        "tip_amount": tip,
        "tolls_amount": tolls,
        "improvement_surcharge": np.full(fare.size, 30),
        "congestion_surcharge": congestion,
    }
    signed = _signed(parts, refund)
    amounts = {name: _money(cents) for name, cents in signed.items()}
    amounts["total_amount"] = _money(sum(signed.values()))
    amounts["congestion_surcharge"] = _money(signed["congestion_surcharge"], empty)
    return amounts


def _signed(amounts: dict[str, np.ndarray], refund: np.ndarray) -> dict[str, np.ndarray]:
    """Refunds carry every amount negated, as in the TLC files."""
    sign = np.where(refund, -1, 1)
    return {name: values * sign for name, values in amounts.items()}


# --- formatting (vectorised, real TLC text formats) ----------------------------------------


def _ints(values: np.ndarray, empty: np.ndarray | None = None) -> pa.Array:
    return pa.array(values, mask=empty).cast(pa.string())


def _flags(is_y: np.ndarray, empty: np.ndarray) -> pa.Array:
    return pa.array(np.where(is_y, "Y", "N"), mask=empty)


def _timestamps(epoch_seconds: np.ndarray) -> pa.Array:
    return pa.array(epoch_seconds.astype("datetime64[s]")).cast(pa.string())


def _distance(miles: np.ndarray) -> pa.Array:
    """Two decimals without the leading zero, like the TLC files: ``2.10``, ``.20``, ``.00``."""
    hundredths = np.round(miles * 100).astype(np.int64)
    whole = pa.array(hundredths // 100).cast(pa.string())
    whole = pc.if_else(pa.array(hundredths < 100), "", whole)
    frac = pc.utf8_lpad(pa.array(hundredths % 100).cast(pa.string()), width=2, padding="0")
    return pc.binary_join_element_wise(whole, frac, ".")


def _money(cents: np.ndarray, empty: np.ndarray | None = None) -> pa.Array:
    """Shortest decimal text of a dollar amount, like the TLC files: ``8``, ``0.5``, ``-6.12``."""
    return pa.array(cents / 100, mask=empty).cast(pa.string())


def _render_csv(columns: dict[str, pa.Array], rows: int) -> Iterable[bytes]:
    arrays = list(columns.values())
    for lo in range(0, rows, RENDER_CHUNK):
        part = [a.slice(lo, RENDER_CHUNK) for a in arrays]
        lines = pc.binary_join_element_wise(
            *part, ",", null_handling="replace", null_replacement=""
        )
        yield ("\n".join(lines.to_pylist()) + "\n").encode()


# --- CLI ----------------------------------------------------------------------------------


def _parse_month(text: str) -> tuple[str, int, int]:
    try:
        color, ym = text.split(":")
        year, month = (int(p) for p in ym.split("-"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not COLOR:YYYY-MM (e.g. green:2020-10)."
        ) from exc
    try:
        _check_month(color, year, month)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return color, year, month


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder to write the months into")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--rows", type=int, help=f"rows per month (default {DEFAULT_ROWS})")
    size.add_argument("--full", action="store_true", help="full-size months (real row counts)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--month",
        type=_parse_month,
        action="append",
        metavar="COLOR:YYYY-MM",
        help="month to write (repeatable; default yellow:2021-01 and green:2020-10..12)",
    )
    args = parser.parse_args(argv)
    if args.rows is not None and args.rows < 1:
        parser.error(f"--rows must be a positive whole number, got {args.rows}.")
    paths = generate(
        args.out,
        rows=args.rows,
        full=args.full,
        months=args.month or DEFAULT_MONTHS,
        seed=args.seed,
    )
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

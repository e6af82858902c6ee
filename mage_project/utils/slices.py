"""Which slice of data a run owns: a source month (yellow/green) or a day (parameterized).

A run replaces exactly its slice in every sink. The slice comes from, in order:

1. explicit runtime variables (``color``/``year``/``month``, ``months`` for green,
   ``execution_date`` for the parameterized pipeline);
2. the run's ``execution_date`` (set by Mage triggers and backfills): the month containing it;
3. the pipeline's documented default (yellow 2021-01, green 2020-10..12, day 2021-01-01).

Every value is validated before anything is downloaded or written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from mage_project.utils.errors import TaxiDataError

COLORS = ("yellow", "green")
FIRST_YEAR, LAST_YEAR = 2009, 2030


@dataclass(frozen=True, order=True)
class MonthSlice:
    """One source file: a colour and a month, e.g. ``yellow 2021-01``."""

    color: str
    year: int
    month: int

    def __post_init__(self) -> None:
        if self.color not in COLORS:
            raise TaxiDataError(
                f"Runtime variable color={self.color!r} is not a taxi colour; use one of {', '.join(COLORS)}."
            )
        if not FIRST_YEAR <= self.year <= LAST_YEAR:
            raise TaxiDataError(
                f"Runtime variable year={self.year} is out of range; use a year between {FIRST_YEAR} and {LAST_YEAR}."
            )
        if not 1 <= self.month <= 12:
            raise TaxiDataError(
                f"Runtime variable month={self.month} is not a month; use a number from 1 to 12."
            )

    @property
    def name(self) -> str:
        """The slice id stored in every sink, e.g. ``2021-01``."""
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def file_name(self) -> str:
        """The release file name, e.g. ``yellow_tripdata_2021-01.csv.gz``."""
        return f"{self.color}_tripdata_{self.name}.csv.gz"

    def url(self, base_url: str) -> str:
        """The file's URL in the release layout ``<base>/<color>/<file>``."""
        return f"{base_url.rstrip('/')}/{self.color}/{self.file_name}"


def _to_int(name: str, value: Any) -> int:
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
        if number != int(number):
            raise ValueError
        return int(number)
    except (TypeError, ValueError):
        raise TaxiDataError(
            f"Runtime variable {name}={value!r} is not a whole number; pass e.g. {name}=1."
        ) from None


def parse_execution_date(value: Any) -> date:
    """A date from Mage's ``execution_date`` (datetime) or an ISO string runtime variable."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        raise TaxiDataError(
            f"Runtime variable execution_date={value!r} is not a date; use YYYY-MM-DD, e.g. 2021-01-15."
        ) from None


def _given(kwargs: dict[str, Any], key: str) -> bool:
    return kwargs.get(key) not in (None, "")


def month_slice_from_kwargs(
    kwargs: dict[str, Any], default_color: str = "yellow", default: tuple[int, int] = (2021, 1)
) -> MonthSlice:
    """The month a yellow-style run owns (see the module docstring for the order)."""
    color = str(kwargs.get("color") or default_color).strip().lower()
    if _given(kwargs, "year") or _given(kwargs, "month"):
        # An empty value is not given (pipelines declare year/month empty; tests/blocks).
        year = _to_int("year", kwargs["year"] if _given(kwargs, "year") else default[0])
        month = _to_int("month", kwargs["month"] if _given(kwargs, "month") else default[1])
        return MonthSlice(color, year, month)
    if _given(kwargs, "execution_date"):
        day = parse_execution_date(kwargs["execution_date"])
        return MonthSlice(color, day.year, day.month)
    return MonthSlice(color, *default)


MONTH_RE = re.compile(r"^\s*(\d{4})-(\d{1,2})\s*$")


def parse_months(text: str, color: str = "green") -> list[MonthSlice]:
    """``"2020-10,2020-11"`` → month slices, sorted and without duplicates."""
    items = [item for item in str(text).split(",") if item.strip()]
    if not items:
        raise TaxiDataError(
            f"Runtime variable months={text!r} names no month; pass e.g. months=2020-10,2020-11."
        )
    slices = set()
    for item in items:
        match = MONTH_RE.match(item)
        if not match:
            raise TaxiDataError(
                f"Runtime variable months has {item.strip()!r}, which is not YYYY-MM; pass e.g. months=2020-10,2020-11."
            )
        slices.add(MonthSlice(color, int(match[1]), int(match[2])))
    return sorted(slices)


GREEN_DEFAULT_MONTHS = "2020-10,2020-11,2020-12"


def green_months_from_kwargs(kwargs: dict[str, Any]) -> list[MonthSlice]:
    """The months a green_taxi_etl run owns: ``months`` > execution_date's month > Q4 2020."""
    color = str(kwargs.get("color") or "green").strip().lower()
    if _given(kwargs, "months"):
        return parse_months(kwargs["months"], color)
    if _given(kwargs, "execution_date"):
        day = parse_execution_date(kwargs["execution_date"])
        return [MonthSlice(color, day.year, day.month)]
    return parse_months(GREEN_DEFAULT_MONTHS, color)


DEFAULT_DAY = date(2021, 1, 1)


def day_from_kwargs(kwargs: dict[str, Any]) -> date:
    """The day a parameterized run owns: runtime ``execution_date`` or Mage's, else 2021-01-01."""
    if _given(kwargs, "execution_date"):
        day = parse_execution_date(kwargs["execution_date"])
        MonthSlice("yellow", day.year, day.month)  # validates the year range
        return day
    return DEFAULT_DAY

"""Which slice of data a run owns: a source month (yellow/green) or a day (parameterized).

A run replaces exactly its slice in every sink. What chooses the slice depends on who runs it:

- **the notebook** (a block's Run button, no pipeline run) and a plain ``mage run``: the slice
  variables given (``year``/``month``, ``months``, ``execution_date``: the pipeline's Variables
  panel, ``--runtime-vars``), else the pipeline's documented default (yellow 2021-01, green
  2020-10..12, day 2021-01-01) -- never the clock Mage's notebook passes as ``execution_date``;
- **a Mage pipeline run** (Run@once, a trigger, a backfill, ``mage_runner``): only the run's own
  variables (its trigger's, its backfill's, its own -- Mage's DB row, ``pipeline_run_id``)
  choose a slice, never the pipeline's global variables, so a notebook override cannot leak into
  scheduled runs; without them a scheduled trigger's or a backfill's run takes the month (day) of
  its ``execution_date``, and a one-off run (Run@once, an API call) the pipeline's default.

Every value is validated before anything is downloaded or written, and per pipeline
(``PIPELINE_VARIABLES``): a pipeline accepts only its own colour and its own variables, so no
variable can put one pipeline's data under another's layout.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from mage_project.utils.errors import TaxiDataError

COLORS = ("yellow", "green")
FIRST_YEAR, LAST_YEAR = 2009, 2030
#: The slice variables of this project (Mage adds its own, e.g. env, which are not checked).
SLICE_VARIABLES = ("color", "year", "month", "months", "execution_date")


@dataclass(frozen=True)
class PipelineVariables:
    """What one pipeline accepts: its colour(s) and its slice variables."""

    colors: tuple[str, ...]
    variables: tuple[str, ...]


_MONTHLY = PipelineVariables(("yellow",), ("color", "year", "month", "execution_date"))
PIPELINE_VARIABLES: dict[str, PipelineVariables] = {
    "api_to_postgres": _MONTHLY,
    "api_to_gcs": _MONTHLY,
    "gcs_to_bigquery": _MONTHLY,
    "api_to_gcs_parameterized": PipelineVariables(("yellow",), ("color", "execution_date")),
    "green_taxi_etl": PipelineVariables(("green",), ("color", "months", "execution_date")),
}
_BY_COLOR = {"yellow": "api_to_postgres, api_to_gcs, gcs_to_bigquery or api_to_gcs_parameterized",
             "green": "green_taxi_etl"}  # fmt: skip


def _shown(value: Any, limit: int = 30) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def validate_variables(
    kwargs: dict[str, Any], pipeline: str | None = None, colors: tuple[str, ...] | None = None
) -> None:
    """Refuse, in one sentence, a slice variable ``pipeline`` does not take or a colour it is
    not made for (``pipeline`` defaults to Mage's ``pipeline_uuid``; ``colors`` narrows it)."""
    pipeline = pipeline or kwargs.get("pipeline_uuid")
    spec = PIPELINE_VARIABLES.get(str(pipeline)) if pipeline else None
    allowed = colors or (spec.colors if spec else COLORS)
    name = f"pipeline {pipeline}" if spec else "this pipeline"
    if spec:
        foreign = [k for k in SLICE_VARIABLES if _given(kwargs, k) and k not in spec.variables]
        if foreign:
            raise TaxiDataError(
                f"Runtime variable {foreign[0]} is not used by {name}, which takes {', '.join(spec.variables)}; remove it (or run the pipeline it belongs to)."
            )
    color = kwargs.get("color")
    if color in (None, ""):
        return
    text = str(color).strip().lower()
    if text not in COLORS:
        raise TaxiDataError(
            f"Runtime variable color={_shown(color)} is not a taxi colour; use one of {', '.join(COLORS)}."
        )
    if text not in allowed:
        raise TaxiDataError(
            f"Runtime variable color={text!r} does not fit {name}, which loads {' and '.join(allowed)} taxi files only; remove color (or run {_BY_COLOR[text]} for {text} files)."
        )


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

    def to_dict(self) -> dict[str, Any]:
        """How a block hands the slice on (Mage passes JSON): its fields and its ``slice`` id."""
        return {"color": self.color, "year": self.year, "month": self.month, "slice": self.name}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MonthSlice:
        """The slice a block handed on with :meth:`to_dict` (other keys are ignored)."""
        return cls(data["color"], int(data["year"]), int(data["month"]))


def _to_int(name: str, value: Any) -> int:
    """A whole number from a runtime variable, exactly (no float on the way, no overflow)."""
    bad = TaxiDataError(
        f"Runtime variable {name}={_shown(value)} is not a whole number; pass e.g. {name}=1."
    )
    if isinstance(value, bool) or value is None:
        raise bad
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise bad from None
    if not number.is_finite() or number != number.to_integral_value():
        raise bad
    if number.adjusted() > 5:  # beyond any year or month: say so without a 400-digit number
        span = (
            f"a year between {FIRST_YEAR} and {LAST_YEAR}"
            if name == "year"
            else "a number from 1 to 12"
        )
        raise TaxiDataError(f"Runtime variable {name}={_shown(value)} is out of range; use {span}.")
    return int(number)


def parse_execution_date(value: Any) -> date:
    """A date from Mage's ``execution_date`` (datetime) or an ISO string runtime variable."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except (ValueError, OverflowError):
        raise TaxiDataError(
            f"Runtime variable execution_date={_shown(value)} is not a date; use YYYY-MM-DD, e.g. 2021-01-15."
        ) from None


def _given(kwargs: dict[str, Any], key: str) -> bool:
    return kwargs.get(key) not in (None, "")


#: The variables that choose a slice (``color`` only names the file kind).
CHOOSERS = ("year", "month", "months", "execution_date")


@dataclass(frozen=True)
class MageRun:
    """A Mage pipeline run as its DB row says: its own variables (its trigger's, or its
    backfill's, then its own; not the pipeline's global ones) and whether it is *dated* (a
    backfill's run, or a trigger with a schedule: its execution date is the slice)."""

    variables: dict[str, Any]
    dated: bool


def find_mage_run(run_id: Any) -> MageRun | None:
    """The pipeline run ``run_id`` from Mage's DB (the block runs inside Mage, which has the
    session open), or None where there is none (a unit test's kwargs)."""
    try:
        from mage_ai.orchestration.db.models.schedules import PipelineRun

        run = PipelineRun.query.get(int(run_id))
    except Exception:  # no Mage DB here: the kwargs are all there is
        return None
    if run is None:
        return None
    schedule = run.pipeline_schedule
    interval = getattr(schedule, "schedule_interval", None)
    interval = str(getattr(interval, "value", interval) or "")
    own = {**((schedule.variables if schedule else None) or {}), **(run.variables or {})}
    return MageRun(own, run.backfill_id is not None or interval not in ("", "@once"))


def _notebook_clock(kwargs: dict[str, Any]) -> bool:
    """True for the ``execution_date`` Mage's notebook fills in (``datetime.now()``, also as
    ``interval_start_datetime``; mage_ai/server/websocket_server.py) when none is declared."""
    value = kwargs.get("execution_date")
    return (
        isinstance(value, datetime)
        and not _given(kwargs, "pipeline_run_id")
        and kwargs.get("interval_start_datetime") == value
        and kwargs.get("interval_seconds") is None
    )


def chosen_variables(
    kwargs: dict[str, Any], lookup: Callable[[Any], MageRun | None] = find_mage_run
) -> dict[str, Any]:
    """``kwargs`` with only the slice variables this run chose (module docstring)."""
    chosen = {k: v for k, v in kwargs.items() if k not in CHOOSERS}
    run = lookup(kwargs["pipeline_run_id"]) if _given(kwargs, "pipeline_run_id") else None
    if run is None:
        chosen.update({k: kwargs[k] for k in CHOOSERS if _given(kwargs, k)})
        if _notebook_clock(kwargs):
            del chosen["execution_date"]
        return chosen
    chosen.update({k: run.variables[k] for k in CHOOSERS if _given(run.variables, k)})
    if run.dated and not any(k in chosen for k in CHOOSERS) and _given(kwargs, "execution_date"):
        chosen["execution_date"] = kwargs["execution_date"]
    return chosen


def month_slice_from_kwargs(
    kwargs: dict[str, Any], default_color: str = "yellow", default: tuple[int, int] = (2021, 1)
) -> MonthSlice:
    """The month a yellow-style run owns (see the module docstring for the order); the
    variables are validated for the run's pipeline (colour ``default_color`` only)."""
    validate_variables(kwargs, colors=(default_color,))
    kwargs = chosen_variables(kwargs)
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
            f"Runtime variable months={_shown(text)} names no month; pass e.g. months=2020-10,2020-11."
        )
    slices = set()
    for item in items:
        match = MONTH_RE.match(item)
        if not match:
            raise TaxiDataError(
                f"Runtime variable months has {_shown(item.strip())}, which is not YYYY-MM; pass e.g. months=2020-10,2020-11."
            )
        slices.add(MonthSlice(color, int(match[1]), int(match[2])))
    return sorted(slices)


GREEN_DEFAULT_MONTHS = "2020-10,2020-11,2020-12"


def green_months_from_kwargs(kwargs: dict[str, Any]) -> list[MonthSlice]:
    """The months a green_taxi_etl run owns: ``months`` > execution_date's month > Q4 2020
    (of the variables the run chose: :func:`chosen_variables`)."""
    validate_variables(kwargs, pipeline=kwargs.get("pipeline_uuid") or "green_taxi_etl")
    kwargs = chosen_variables(kwargs)
    color = str(kwargs.get("color") or "green").strip().lower()
    if _given(kwargs, "months"):
        return parse_months(kwargs["months"], color)
    if _given(kwargs, "execution_date"):
        day = parse_execution_date(kwargs["execution_date"])
        return [MonthSlice(color, day.year, day.month)]
    return parse_months(GREEN_DEFAULT_MONTHS, color)


DEFAULT_DAY = date(2021, 1, 1)


def day_from_kwargs(kwargs: dict[str, Any]) -> date:
    """The day a parameterized run owns: the chosen ``execution_date`` (:func:`chosen_variables`),
    else 2021-01-01."""
    validate_variables(kwargs, pipeline=kwargs.get("pipeline_uuid") or "api_to_gcs_parameterized")
    kwargs = chosen_variables(kwargs)
    if _given(kwargs, "execution_date"):
        day = parse_execution_date(kwargs["execution_date"])
        MonthSlice("yellow", day.year, day.month)  # validates the year range
        return day
    return DEFAULT_DAY

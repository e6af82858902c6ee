"""The benchmark table: rows, ratios, target checks, machine facts; rich on screen, markdown on disk."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psutil
from rich.console import Console
from rich.table import Table


@dataclass
class Row:
    """One measured step (``wall_s`` None when it could not run; ``note`` says why)."""

    key: str
    label: str
    wall_s: float | None = None
    peak_rss_mb: float | None = None
    rows: int | None = None
    note: str = ""


@dataclass
class Check:
    """One target: ``ok`` None means it could not be measured."""

    target: str
    measured: str
    ok: bool | None


def machine() -> str:
    """CPU model, cores, RAM and load: the context every figure needs."""
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = psutil.virtual_memory().total / 2**30
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{model}, {os.cpu_count()} cores, {ram:.0f} GB RAM, load average {load}"


def _fmt(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _ratio(a: float | None, b: float | None) -> str:
    return "—" if a is None or b is None or b == 0 else f"{a / b:.2f}x"


def table_rows(rows: list[Row], course_key: dict[str, str], floor: Row) -> list[list[str]]:
    """Cells of the table; ``course_key`` maps a row key to the course row it compares with."""
    by_key = {r.key: r for r in rows}
    cells = []
    for r in rows:
        course = by_key.get(course_key.get(r.key, ""))
        cells.append(
            [
                r.label,
                _fmt(r.wall_s),
                _fmt(r.peak_rss_mb, 0),
                "—" if r.rows is None else f"{r.rows:,}",
                _ratio(r.wall_s, course.wall_s) if course and course is not r else "",
                _ratio(r.wall_s, floor.wall_s) if r.key.endswith("ingest") else "",
                r.note,
            ]
        )
    return cells


HEADERS = ["step", "wall s", "peak RSS MB", "rows landed", "time vs course", "vs floor", "note"]


def render(
    title: str, rows: list[Row], checks: list[Check], cells: list[list[str]], console: Console
) -> None:
    table = Table(title=title)
    for header in HEADERS:
        table.add_column(header, justify="left" if header in ("step", "note") else "right")
    for line in cells:
        table.add_row(*line)
    console.print(table)
    targets = Table(title="targets")
    for header in ("target", "measured", "met"):
        targets.add_column(header)
    for c in checks:
        verdict = {True: "[green]yes[/]", False: "[red]NO[/]", None: "[yellow]not measured[/]"}
        targets.add_row(c.target, c.measured, verdict[c.ok])
    console.print(targets)


def markdown(title: str, context: list[str], cells: list[list[str]], checks: list[Check]) -> str:
    """The same tables as markdown, with date and machine."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"# {title}", "", f"- date: {now}", f"- machine: {machine()}"]
    lines += [f"- {c}" for c in context]
    lines += ["", "| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in line) + " |" for line in cells]
    lines += ["", "| target | measured | met |", "|---|---|---|"]
    verdict = {True: "yes", False: "**NO**", None: "not measured"}
    lines += [f"| {c.target} | {c.measured} | {verdict[c.ok]} |" for c in checks]
    return "\n".join(lines) + "\n"

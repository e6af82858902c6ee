"""The start-up table is readable in an 80-column terminal: every URL on one line, every log
path whole, nothing beyond the edge."""

from __future__ import annotations

import pytest
from rich.console import Console
from twin.console import print_started
from twin.layout import DEFAULT_STATE_DIR, REPO_ROOT
from twin.ports import TwinPorts
from twin.supervisor import Twin


def printed(twin: Twin, width: int) -> str:
    console = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    print_started(twin, console, foreground=True)
    return console.export_text()


@pytest.mark.parametrize("width", [80, 100, 200])
def test_start_up_table_fits_and_keeps_every_url_and_log(
    width: int, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(REPO_ROOT)  # as `make up` runs it: paths shown relative to the checkout
    twin = Twin(DEFAULT_STATE_DIR, TwinPorts())
    twin.mage = True
    text = printed(twin, width)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width
    for name, url in twin.urls.items():
        assert any(url in line for line in lines), url  # one line, not folded
        log = str(twin.log_path(name).relative_to(REPO_ROOT))
        flat = "".join(line.strip(" │") for line in lines)
        assert log.replace(" ", "") in flat.replace(" ", ""), log
    assert "Press Ctrl-C" in text

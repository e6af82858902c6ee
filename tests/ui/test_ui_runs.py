"""After `make demo`, the twin's Mage UI lists every run it made, with block runs and logs, also
after Mage was restarted (a "different instance": logs are read back from GCS), and a failed
run shows ``failed`` at its block with our sentence in the block's log -- all through the API
the UI's Runs and Logs pages call. Mage runs with its scheduler, as `make up` starts it, so the
test also shows the scheduler leaves these runs alone (each block ran once and completed)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from twin.pipelines import PIPELINES, run_pipeline
from twin.ports import TwinPorts
from twin.supervisor import Twin

from mage_project.utils.image_contract import REPO_ROOT as REPO

pytestmark = [pytest.mark.ui, pytest.mark.twin]
SCREENSHOT_COPY = REPO / "docs" / "img" / "mage-ui-runs.png"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
BAD_MONTH = "Runtime variable month=13 is not a month; use a number from 1 to 12."


@pytest.fixture(scope="module")
def demo_twin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Twin]:
    """A twin with Mage; `python -m twin.demo` against it, then one failing run (~2.5 min)."""
    twin = Twin(tmp_path_factory.mktemp("demo_twin"), TwinPorts.free())
    try:
        twin.start(mage=True)
        demo = subprocess.run(
            [sys.executable, "-m", "twin.demo", "--state-dir", str(twin.state_dir)],
            cwd=REPO, capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
        bad = run_pipeline("api_to_postgres", twin.subprocess_env(), {"month": 13},
                           twin.state_dir / "bad.log", trigger="make_demo")  # fmt: skip
        assert bad.error == BAD_MONTH
        yield twin
    finally:
        twin.stop()


def api(twin: Twin, path: str, **query) -> dict:
    url = f"{twin.urls['mage']}/api/{path}"
    if query:
        url += "?" + urllib.parse.urlencode(query, doseq=True)
    with urllib.request.urlopen(url, timeout=60) as response:
        return json.load(response)


def demo_runs(twin: Twin) -> list[dict]:
    runs = api(twin, "pipeline_runs", _limit=200)["pipeline_runs"]
    return [r for r in runs if r.get("pipeline_schedule_name") == "make_demo"]


def block_logs(twin: Twin, run: dict) -> dict[str, str]:
    logs = api(twin, f"pipelines/{run['pipeline_uuid']}/logs", **{"pipeline_run_id[]": run["id"]})
    return {
        Path(item["path"]).stem: item.get("content") or ""
        for item in logs["logs"][0]["block_run_logs"]
    }


def check_listing(twin: Twin) -> None:
    runs = demo_runs(twin)
    completed = {r["pipeline_uuid"] for r in runs if r["status"] == "completed"}
    assert completed == set(PIPELINES)
    (failed,) = [r for r in runs if r["status"] == "failed"]
    assert failed["variables"] == {"month": 13}
    blocks = {b["block_uuid"]: b["status"] for b in
              api(twin, "block_runs", pipeline_run_id=failed["id"])["block_runs"]}  # fmt: skip
    assert blocks["load_yellow_month"] == "failed"
    assert BAD_MONTH in block_logs(twin, failed)["load_yellow_month"]
    for run in runs:
        if run["status"] != "completed":
            continue
        statuses = [b["status"] for b in
                    api(twin, "block_runs", pipeline_run_id=run["id"])["block_runs"]]  # fmt: skip
        assert statuses and set(statuses) == {"completed"}, run
        assert run["execution_date"]
        logs = block_logs(twin, run)
        assert logs and all("Finish executing block" in text for text in logs.values()), run


def test_the_ui_lists_every_demo_run_with_block_runs_and_logs(demo_twin: Twin) -> None:
    check_listing(demo_twin)


def test_a_restarted_mage_still_shows_the_runs_and_their_logs(demo_twin: Twin) -> None:
    demo_twin.stop_mage()
    demo_twin.start_mage()
    check_listing(demo_twin)


def test_the_runs_page_in_chromium_shows_the_demo_runs(demo_twin: Twin, tmp_path: Path) -> None:
    """The UI's Runs page (``/pipeline-runs``) renders the demo's runs under ``make_demo``;
    screenshot in tmp_path (and docs/img/ with UPDATE_SCREENSHOT=1)."""
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), f"Chromium is missing at {CHROMIUM}; run `make setup`."
    with sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.goto(f"{demo_twin.urls['mage']}/pipeline-runs", timeout=120_000)
            page.get_by_text("make_demo").first.wait_for(timeout=120_000)
            page.wait_for_timeout(1_000)
            shown = page.get_by_text("make_demo", exact=True).count()
            shot = tmp_path / "mage-ui-runs.png"
            page.screenshot(path=str(shot))
        finally:
            browser.close()
    assert shown >= len(PIPELINES) + 1  # five demo runs and the failed one
    if os.environ.get("UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(shot, SCREENSHOT_COPY)

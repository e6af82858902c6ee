"""A course student's first hour in the Mage UI (issue 20), in headless Chromium on a twin of its own.

- The notebook: open each pipeline's editor and click **Run** on every block in order. Each block
  succeeds with no variables set (the notebook runs the pipeline's default slice, not the month
  of Mage's clock, which no release has) and shows a table of the first rows it handles (at most
  ``PREVIEW_ROWS``, typed: nullable ``Int64`` ids, ``datetime64`` timestamps) under a line naming
  the preview's size and ``make up ROWS=full``.
- Run@once from each pipeline's Triggers page completes (the default slice again).
- Running blocks leaves ``git status`` of the pipelines as it was (tests/setup/test_metadata_run_state.py
  covers the filter itself).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import BrowserContext, Page, sync_playwright
from twin.pipelines import run_pipeline
from twin.ports import TwinPorts
from twin.supervisor import Twin

from mage_project.utils.image_contract import REPO_ROOT as REPO
from mage_project.utils.preview import PREVIEW_ROWS
from tests.browser_path import MISSING as BROWSER_MISSING
from tests.browser_path import find_browser

pytestmark = [pytest.mark.ui, pytest.mark.twin]

PIPELINES_DIR = REPO / "mage_project" / "pipelines"
#: The order that feeds each sink before it is read (gcs_to_bigquery reads api_to_gcs's output).
ORDER = (
    "api_to_postgres",
    "api_to_gcs",
    "gcs_to_bigquery",
    "api_to_gcs_parameterized",
    "green_taxi_etl",
)
PREVIEW = "Preview: the first"
#: A block's Run button: the filled play icon in the header that names the block.
PLAY = "*[local-name()='svg' and @viewBox='0 0 9 10']"
BLOCK_TIMEOUT_S = 150  # per click
RUN_TIMEOUT_S = 300
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def ui_twin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Twin]:
    twin = Twin(tmp_path_factory.mktemp("notebook_twin"), TwinPorts.free())
    try:
        twin.start(mage=True)
        yield twin
    finally:
        twin.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    chromium = find_browser()
    if chromium is None:
        pytest.fail(BROWSER_MISSING)
    with sync_playwright() as driver:
        context = driver.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(chromium),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1440, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser: BrowserContext) -> Iterator[Page]:
    tab = browser.new_page()
    tab.set_default_timeout(90_000)
    try:
        yield tab
    finally:
        tab.close()


def blocks(pipeline: str) -> list[str]:
    metadata = yaml.safe_load((PIPELINES_DIR / pipeline / "metadata.yaml").read_text())
    return [b["uuid"] for b in metadata["blocks"]]


def get_json(url: str, wait_s: float = 120) -> dict:
    """GET ``url``; while Mage restarts (its dev server reloads when a project file changes)
    the connection is refused for a while: retry for up to ``wait_s``."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                return json.load(response)
        except urllib.error.URLError:
            if time.monotonic() > deadline:
                raise
            time.sleep(2)


def pipelines_status() -> str:
    """``git status`` of the pipelines' files (what a UI run could dirty)."""
    filter_set = subprocess.run(["git", "config", "--get", "filter.mage-run-state.clean"],
                                cwd=REPO, capture_output=True, text=True)  # fmt: skip
    assert filter_set.stdout.strip(), (
        "git's mage-run-state filter is not registered; run scripts/setup.sh"
    )
    status = subprocess.run(["git", "status", "--porcelain", "--", "mage_project/pipelines"],
                            cwd=REPO, capture_output=True, text=True, check=True)  # fmt: skip
    return status.stdout


def close_kernel_notice(page: Page) -> None:
    """Close Mage's "The kernel has restarted" notice (it covers the blocks) if it is up; it is no
    sign of a lost run (Mage shows it when it first learns the kernel's pid): see run_block."""
    notice = page.get_by_text("The kernel has restarted", exact=True)
    if notice.count() and notice.first.is_visible():
        page.get_by_text("Close", exact=True).first.click()


#: A block's cell: the outermost ancestor of the block's header link (its first name link; later
#: cells name it again as their upstream) holding one Run button, tagged ``data-nb-cell`` so it is
#: found again while it runs (its Run button is then a Cancel one). Mage keeps every cell's output
#: in the page, and a run replaces its cell's output (the old preview goes at the click, the new
#: one comes), so a page-wide count cannot see a re-run: preview lines already in the cell are
#: tagged ``data-nb-stale`` before a click, and only a new, visible one counts.
CELL_JS = """([block, preview, mark]) => {
  const runs = (el) => [...el.querySelectorAll('button')].filter(
    (b) => b.querySelector("svg[viewBox='0 0 9 10']")).length;
  let cell = document.querySelector(`[data-nb-cell="${block}"]`);
  if (!cell) {
    const link = [...document.querySelectorAll('a')].find((a) => a.textContent.trim() === block);
    for (let el = link; el && el !== document.body; el = el.parentElement) {
      if (runs(el) === 1) cell = el;
      else if (runs(el) > 1) break;
    }
    if (!cell) return null;
    cell.dataset.nbCell = block;
  }
  const lines = [...cell.querySelectorAll('*')].filter((el) => el.checkVisibility()
    && [...el.childNodes].some((n) => n.nodeType === Node.TEXT_NODE && n.textContent.includes(preview)));
  if (mark) lines.forEach((el) => { el.dataset.nbStale = '1'; });
  const fresh = lines.filter((el) => !el.dataset.nbStale);
  if (fresh.length) fresh[fresh.length - 1].scrollIntoView({block: 'center'});
  return {
    running: runs(cell) === 0,
    shown: lines.map((el) => el.textContent.trim()),
    fresh: fresh.map((el) => el.textContent.trim()),
  };
}"""
#: A run that ends (the block's Run button is back) with no new preview is retried after this:
#: a kernel restart loses it, and the first run after the kernel starts can show only its tests.
IDLE_RETRY_S = 20


def cell_state(page: Page, block: str, mark: bool = False) -> dict | None:
    """The block's cell: ``running``, its preview lines ``shown`` and those ``fresh`` since the
    last ``mark`` (which tags those shown as stale; the newest fresh one is scrolled into view);
    None while the cell is not found."""
    return page.evaluate(CELL_JS, [block, PREVIEW, mark])


def block_log(twin: Twin, block: str, limit: int = 12) -> list[str]:
    """What Mage's log says about the block: its websocket messages (id, type, state, first
    output line, error), one line each, the last ``limit``."""
    lines = twin.log_path("mage").read_text(errors="replace").splitlines()
    head = re.compile(rf"websocket_server:\[{re.escape(block)}\] Sending message for (\S+)")
    about: list[str] = []
    for i, line in enumerate(lines):
        found = head.search(line)
        if not found:
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j] == "}"), i)
        try:
            message = json.loads("\n".join(lines[i + 1 : end + 1]))
        except json.JSONDecodeError:
            about.append(line[:200])
            continue
        data = message.get("data") or []
        data = data if isinstance(data, list) else [data]
        shown = next((d for d in data if PREVIEW in str(d)), data[0] if data else None)
        detail = message.get("error") or shown or message.get("execution_state")
        run = found[1].rsplit("_", 1)[-1]
        about.append(f"run {run} {message.get('msg_type')}: {str(detail)[:160]}")
    return about[-limit:]


def run_block(page: Page, block: str, twin: Twin, out: Path, attempts: int = 3) -> None:
    """Click the block's Run button and wait for a new preview line in the block's own cell.
    Click again when the run ends with none (Mage's kernel may restart meanwhile, and the run
    right after the kernel starts can show only its tests' result). Mage's "The kernel has
    restarted" notice is closed, not taken as a lost run: Mage also shows it when it first learns
    the kernel's pid while a block runs. Else fail with the screen and Mage's log about the block."""
    for _ in range(attempts):
        close_kernel_notice(page)
        deadline = time.monotonic() + BLOCK_TIMEOUT_S
        while cell_state(page, block, mark=True) is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"the notebook shows no cell with a Run button for {block}")
            time.sleep(1)
        cell = page.locator(f'[data-nb-cell="{block}"]')
        cell.locator(f"xpath=.//button[.//{PLAY}]").click()
        idle_since = None
        while time.monotonic() < deadline:
            state = cell_state(page, block)
            if state and state["fresh"]:
                return
            close_kernel_notice(page)
            now = time.monotonic()
            idle_since = None if not state or state["running"] else idle_since or now
            if idle_since is not None and now - idle_since > IDLE_RETRY_S:
                break
            time.sleep(1)
    shot = out / f"no-preview-{block}.png"
    page.screenshot(path=str(shot))
    raise AssertionError(
        f"block {block} showed no new preview in its cell after {attempts} runs (screen: {shot});"
        " Mage's log about it:\n" + "\n".join(block_log(twin, block))
    )


def preview_types(twin: Twin, pipeline: str, block: str) -> dict[str, str]:
    """The column types of the table the block showed (Mage stores it as its output_1)."""
    outputs = twin.state_dir / "mage_data" / "mage_project" / "pipelines" / pipeline / ".variables"
    return json.loads((outputs / block / "output_1" / "data_column_types.json").read_text())


@pytest.mark.parametrize("pipeline", ORDER)
def test_run_on_every_block_in_the_notebook_shows_its_rows(
    pipeline: str, ui_twin: Twin, page: Page, tmp_path: Path
) -> None:
    if pipeline == "gcs_to_bigquery":  # reads what api_to_gcs wrote (any test order)
        seeded = run_pipeline("api_to_gcs", ui_twin.subprocess_env(), log=tmp_path / "seed.log")
        assert seeded.ok, seeded.error
    status_before = pipelines_status()
    page.goto(f"{ui_twin.urls['mage']}/pipelines/{pipeline}/edit", wait_until="domcontentloaded")
    names = blocks(pipeline)
    page.get_by_text(names[0], exact=True).first.wait_for(state="visible")
    for block in names:
        run_block(page, block, ui_twin, tmp_path)
    page.screenshot(path=str(tmp_path / f"notebook-{pipeline}.png"))
    missing = [b for b in names if not (cell_state(page, b) or {}).get("shown")]
    assert not missing, f"blocks whose cell shows no preview: {missing}"
    text = page.locator("body").inner_text()
    assert "make up ROWS=full" in text
    assert "FutureWarning" not in text  # the known library notices are filtered (twin.layout)
    if pipeline != "api_to_postgres":  # GCS names printed so Mage's masking leaves them readable
        assert "gs://$GCS_BUCKET/" in text
    for block in names:
        types = preview_types(ui_twin, pipeline, block)
        assert types, f"{block} showed an empty table"
        assert "Int64" in types.values(), f"{block}: no nullable integer column in {types}"
        assert any(t.startswith("datetime64") for t in types.values()), f"{block}: {types}"
    shown = [int(n.replace(",", "")) for n in re.findall(rf"{PREVIEW} ([\d,]+)", text)]
    assert shown and all(0 < n <= PREVIEW_ROWS for n in shown), shown  # bounded, never the month
    assert f"at most {PREVIEW_ROWS} shown" in text
    assert pipelines_status() == status_before, "running blocks in the UI changed tracked files"


@pytest.mark.parametrize("pipeline", ORDER)
def test_run_once_from_the_triggers_page_completes(
    pipeline: str, ui_twin: Twin, page: Page, tmp_path: Path
) -> None:
    mage = ui_twin.urls["mage"]
    if pipeline == "gcs_to_bigquery":
        seeded = run_pipeline("api_to_gcs", ui_twin.subprocess_env(), log=tmp_path / "seed.log")
        assert seeded.ok, seeded.error
    known = {
        r["id"]
        for r in get_json(f"{mage}/api/pipeline_runs?pipeline_uuid={pipeline}&_limit=100")[
            "pipeline_runs"
        ]
    }
    page.goto(f"{mage}/pipelines/{pipeline}/triggers", wait_until="domcontentloaded")
    page.get_by_text("Run@once", exact=True).click()
    page.get_by_text("Run pipeline now", exact=True).wait_for(state="visible")
    page.get_by_text("Run now", exact=True).click()
    deadline, run, seen = time.monotonic() + RUN_TIMEOUT_S, None, {}
    while time.monotonic() < deadline:
        runs = get_json(f"{mage}/api/pipeline_runs?pipeline_uuid={pipeline}&_limit=100")[
            "pipeline_runs"
        ]
        new = [r for r in runs if r["id"] not in known]
        if new:
            seen = new[0]
        if new and new[0]["status"] in ("completed", "failed", "cancelled"):
            run = new[0]
            break
        time.sleep(2)
    page.screenshot(path=str(tmp_path / f"run-once-{pipeline}.png"))
    if run is None:  # say where it stopped: no run, or which block runs wait
        stuck = seen and get_json(f"{mage}/api/block_runs?pipeline_run_id={seen['id']}")
        stuck = {b["block_uuid"]: b["status"] for b in (stuck or {}).get("block_runs", [])}
        raise AssertionError(
            f"Run@once of {pipeline} did not finish in {RUN_TIMEOUT_S} s: "
            + (f"run {seen['id']} {seen['status']}, block runs {stuck}" if seen else "no new run")
        )
    block_runs = get_json(f"{mage}/api/block_runs?pipeline_run_id={run['id']}")["block_runs"]
    states = {b["block_uuid"]: b["status"] for b in block_runs}
    assert run["status"] == "completed", f"Run@once of {pipeline}: {run['status']} {states}"
    assert set(states.values()) == {"completed"}, states

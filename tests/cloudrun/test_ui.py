"""The planned UI service of each stack, started once per stack as Cloud Run would start it:
its HTTP startup probe answers within the planned budget, it runs as the image's user with the
planned command and env, login is required, the owner signs in with the generated password in
headless Chromium, its DB connections are SSL, and with ENV=prod no twin-only trigger exists."""

from __future__ import annotations

import contextlib
import re
import time
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import sync_playwright

from tests.cloudrun.checks import assert_runs_as_planned
from tests.cloudrun.harness import (
    REPO_ROOT,
    ContractError,
    MageApi,
    http_get,
    owner_api,
    probe_budget,
    start_instance,
    wait_for_startup_probe,
)

pytestmark = [pytest.mark.twin, pytest.mark.ui]
STACKS = ("dev", "prod")
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
ANONYMOUS_PATHS = ["/api/pipelines", "/api/pipeline_schedules", "/api/secrets"]
#: How long a UI that failed its startup probe is still given, so the other checks can run.
FALLBACK_START_S = 240
#: Mage's scheduler runs schedule_all (which syncs triggers.yaml) every 10 s.
SCHEDULER_SYNC_S = 25


@pytest.fixture(scope="module", params=STACKS)
def ui(request, cloud_factory, image, tmp_path_factory):
    """``(cloud, instance, probe)``: probe is the seconds the startup probe took, or its error."""
    cloud = cloud_factory(request.param)
    instance = start_instance(cloud, "ui", tmp_path_factory.mktemp("ui"), image)
    try:
        try:
            probe: float | ContractError = wait_for_startup_probe(instance)
        except ContractError as error:
            probe = error
            _wait_http(instance, "/api/status", FALLBACK_START_S)
        yield cloud, instance, probe
    finally:
        instance.stop()


def _wait_http(instance, path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if http_get(instance.url(path), 5)[0] == 200:
                return
        time.sleep(0.5)
    raise ContractError(f"{instance.url(path)} never answered:\n{instance.log()}")


def test_startup_probe_is_http_and_passes_within_its_budget(ui):
    _, instance, probe = ui
    if isinstance(probe, ContractError):
        raise probe
    budget = probe_budget(instance.container.startup_probe)
    print(f"{instance.container.name}: startup probe passed after {probe:.1f} s of {budget} s")
    assert probe <= budget


def test_liveness_probe_answers(ui):
    _, instance, _ = ui
    http = (instance.container.liveness_probe or {}).get("httpGet")
    assert http, "the UI plans no HTTP liveness probe"
    assert http_get(instance.url(http["path"]), 10)[0] == 200


def test_runs_as_planned(ui):
    _, instance, _ = ui
    assert_runs_as_planned(instance)


@pytest.mark.parametrize("path", ANONYMOUS_PATHS)
def test_anonymous_api_calls_are_refused(ui, path):
    """Without and with the front end's public API key: no token, no data."""
    _, instance, _ = ui
    status, body = http_get(instance.url(path), 10)
    assert status in (401, 403), f"anonymous GET {path} answered {status}: {body[:200]!r}"
    # Mage answers API-level refusals as HTTP 200 with the code in its error envelope.
    status, payload = MageApi(instance).call("GET", path)
    refused = status in (401, 403) or (payload.get("error") or {}).get("code") in (401, 403)
    resource = path.rsplit("/", 1)[-1]
    assert refused and resource not in payload, f"GET {path} with the API key: {status} {payload}"


def test_the_owner_token_opens_the_api(ui):
    """The positive control of the test above: signed in, the same calls answer 200."""
    cloud, instance, _ = ui
    api = owner_api(cloud, instance)
    for path in ANONYMOUS_PATHS:
        status, payload = api.call("GET", path)
        assert status == 200 and "error" not in payload, f"GET {path}: {status} {payload}"


def test_owner_signs_in_with_the_generated_password(ui, tmp_path):
    cloud, instance, _ = ui
    email = instance.env["DEFAULT_OWNER_EMAIL"]
    password = cloud.secrets.value(instance.container.secret_env["DEFAULT_OWNER_PASSWORD"])
    assert "mock-password" not in password
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(60_000)
            page.goto(instance.url("/pipelines"), wait_until="domcontentloaded")
            page.wait_for_url(re.compile(r"/sign-in"))  # login is required
            _sign_in(page, email, password + "x")
            page.get_by_text(re.compile("invalid|incorrect|wrong", re.I)).first.wait_for()
            assert "/sign-in" in page.url, "a wrong password was accepted"
            page.goto(instance.url("/sign-in"), wait_until="domcontentloaded")
            _sign_in(page, email, password)
            page.wait_for_url(lambda url: "/sign-in" not in url)
            page.goto(instance.url("/pipelines"), wait_until="domcontentloaded")
            page.get_by_text("green_taxi_etl", exact=True).first.wait_for(state="visible")
            page.screenshot(path=str(tmp_path / "signed-in.png"))
        finally:
            browser.close()


def _sign_in(page, email: str, password: str) -> None:
    page.get_by_placeholder("Email", exact=True).fill(email)
    page.get_by_placeholder("Password", exact=True).fill(password)
    page.get_by_text("Sign into Mage", exact=True).click()


def test_connections_to_the_metadata_db_are_ssl(ui):
    cloud, instance, _ = ui
    with cloud.sql.admin_connect("postgres") as conn:
        rows = conn.execute(
            "SELECT a.usename, s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) "
            "WHERE a.usename IS NOT NULL AND a.usename <> current_user"
        ).fetchall()
    assert rows, "the UI holds no connection to the stand-in"
    assert {user for user, _ in rows} >= {"mage"}
    assert all(ssl for _, ssl in rows), f"connections without SSL: {rows}"


def twin_only_triggers(env: str) -> set[str]:
    """Names of triggers.yaml entries limited to other Mage environments than ``env``."""
    names = set()
    for path in (REPO_ROOT / "mage_project" / "pipelines").glob("*/triggers.yaml"):
        for trigger in (yaml.safe_load(path.read_text()) or {}).get("triggers") or []:
            if trigger.get("envs") and env not in trigger["envs"]:
                names.add(trigger["name"])
    return names


def test_no_twin_only_trigger_in_mages_db(ui):
    """The cloud runs ENV=prod: Mage must not create the twin's ``envs: [dev]`` triggers."""
    cloud, instance, _ = ui
    twin_only = twin_only_triggers("prod")
    assert twin_only, "triggers.yaml has no trigger limited to other envs: nothing to check"
    if "web_server" not in instance.container.args:  # a scheduler syncs triggers.yaml: let it
        log = instance.log_path.read_text(errors="replace")
        assert "Start scheduler." in log, "the always-on UI started no scheduler"
        time.sleep(max(0.0, SCHEDULER_SYNC_S - (time.monotonic() - instance.started_at)))
    users = cloud.secrets.sql_users()
    with cloud.sql.connect("mage", users["mage"], "mage") as conn:
        present = {name for (name,) in conn.execute("SELECT name FROM pipeline_schedule")}
    assert not present & twin_only, f"Mage created twin-only triggers {present & twin_only}"
    assert instance.env["ENV"] == "prod", f"the plan sets ENV={instance.env['ENV']}, not prod"

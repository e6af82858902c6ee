"""The documented cloud backfill (README, docs/warehouse.md) starts one execution of the stack's
backfill job: ``make backfill PIPELINE=api_to_gcs START=2021-01 END=2021-02 CLOUD=1 STACK=dev``.

The command is the one make runs (``make -n``), run from another folder; only the Run API call
is faked, at its HTTP boundary (google-auth's default credentials and its authorized session).
"""

from __future__ import annotations

import json
import shlex
import subprocess

import google.auth
import pytest
import requests
import yaml
from google.auth.credentials import AnonymousCredentials
from google.auth.transport.requests import AuthorizedSession
from twin import backfill
from twin.layout import REPO_ROOT

from infra.components.backfill import backfill_job_name
from infra.config import parse

MAKE_ARGS = ["PIPELINE=api_to_gcs", "START=2021-01", "END=2021-02", "CLOUD=1", "STACK=dev"]


def make_command(*args: str) -> list[str]:
    """The argv `make backfill ARGS` runs (the set-up stamp taken as done)."""
    out = subprocess.run(
        ["make", "-n", "-o", ".venv/.mage-gcp-setup", "backfill", *args],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    lines = [line for line in out.splitlines() if "twin.backfill" in line]
    assert len(lines) == 1, out
    return shlex.split(lines[0])


class FakeRunApi:
    """Records the Run API requests; answers as the API does (a long-running operation)."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.calls: list[tuple[str, str, dict]] = []

    def request(
        self, method: str, url: str, data=None, headers=None, **kwargs
    ) -> requests.Response:
        self.calls.append((method, url, kwargs.get("json")))
        response = requests.Response()
        response.status_code = self.status
        body = {"name": "projects/my-mage-dev/locations/us-central1/operations/op-1"}
        if self.status >= 400:
            body = {"error": {"code": self.status, "message": "Permission denied"}}
        response._content = json.dumps(body).encode()
        return response


@pytest.fixture
def run_api(monkeypatch: pytest.MonkeyPatch, tmp_path) -> FakeRunApi:
    fake = FakeRunApi()
    monkeypatch.setattr(google.auth, "default", lambda scopes=None: (AnonymousCredentials(), None))
    monkeypatch.setattr(
        AuthorizedSession, "request", lambda session, *a, **kw: fake.request(*a, **kw)
    )
    monkeypatch.chdir(tmp_path)  # the command must not depend on the caller's folder
    return fake


def test_the_documented_cloud_backfill_starts_one_execution_of_the_stacks_job(run_api, capsys):
    argv = make_command(*MAKE_ARGS)
    assert argv[:3] == [".venv/bin/python", "-m", "twin.backfill"]
    assert backfill.main(argv[3:]) == 0, capsys.readouterr().out
    cfg = parse(yaml.safe_load((REPO_ROOT / "Pulumi.dev.yaml").read_text())["config"])
    job = backfill_job_name(cfg.name_prefix)
    [(method, url, body)] = run_api.calls
    assert method == "POST"
    assert url == (
        f"https://run.googleapis.com/v2/projects/{cfg.project}/locations/{cfg.region}/"
        f"jobs/{job}:run"
    )
    assert body["overrides"]["taskCount"] == 2
    env = {e["name"]: e["value"] for e in body["overrides"]["containerOverrides"][0]["env"]}
    assert env["BACKFILL_PIPELINE"] == "api_to_gcs"
    assert env["BACKFILL_DATES"] == "2021-01-01,2021-02-01"
    out = capsys.readouterr().out
    assert f"Started {job}" in out and f"--project {cfg.project}" in out


def test_a_stack_without_a_file_is_one_sentence_and_no_call(run_api, capsys):
    argv = make_command(*MAKE_ARGS[:-1], "STACK=nosuchstack")
    assert backfill.main(argv[3:]) == 2
    out = " ".join(capsys.readouterr().out.split())
    assert "There is no stack file Pulumi.nosuchstack.yaml" in out
    assert run_api.calls == []


def test_a_refused_run_api_call_is_one_sentence(run_api, capsys):
    run_api.status = 403
    assert backfill.main(make_command(*MAKE_ARGS)[3:]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "The Run API refused to start" in out and "HTTP 403" in out


def test_no_credentials_is_one_sentence_saying_how_to_get_them(run_api, monkeypatch, capsys):
    from google.auth.exceptions import DefaultCredentialsError

    def none(scopes=None):
        raise DefaultCredentialsError("Your default credentials were not found.")

    monkeypatch.setattr(google.auth, "default", none)
    assert backfill.main(make_command(*MAKE_ARGS)[3:]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "gcloud auth application-default login" in out and run_api.calls == []

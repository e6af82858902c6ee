"""Issue 9 on the Cloud Run contract layer: the hosted Mage remembers what a user does in it.

Each test throws an instance's filesystem away (``restart``: what Cloud Run does when it scales
to zero or replaces an instance) or reads from an instance that did not do the work:

- a secret created through Mage's API is still listed afterwards (Mage lists only the secrets
  it can decrypt, ``get_valid_secrets_for_repo``: the key must come from Secret Manager);
- dev: a pipeline edit made through the API is still there (the project is a Cloud Storage
  volume, mounted as the planned options say -- see ``Instance.volume_dir``); prod: the edit is
  refused and the pipeline is unchanged;
- a job's run, its block runs and its logs are visible through the UI's API from an instance
  that never saw the job's filesystem (runs are Mage runs in Cloud SQL, logs off-instance).

On the code before issue 9 all five fail: "the secret created before the restart is no longer
decryptable" (dev, prod), "the dev edit was lost with the instance's filesystem", "prod accepted
a pipeline edit", "the job's run is not in Mage's UI".
"""

from __future__ import annotations

import secrets
import time

import pytest

from tests.cloudrun.harness import MageApi, owner_api, restart, run_job, start_ui_instance

pytestmark = [pytest.mark.twin]
PIPELINE = "green_taxi_etl"
TERMINAL = {"completed", "failed", "cancelled"}


def secret_names(api: MageApi) -> set[str]:
    status, body = api.call("GET", "/api/secrets")
    assert status == 200 and "error" not in body, body
    return {s["name"] for s in body["secrets"]}


@pytest.fixture(params=["dev", "prod"])
def stack_cloud(request, cloud_factory):
    return cloud_factory(request.param)


def _description(api: MageApi) -> str | None:
    status, body = api.call("GET", f"/api/pipelines/{PIPELINE}")
    assert status == 200 and "error" not in body, body
    return body["pipeline"].get("description")


def test_a_new_instance_keeps_the_secret_and_the_dev_edit_and_prod_refuses_edits(
    stack_cloud, image, tmp_path
):
    """One instance creates a secret and edits a pipeline; it is replaced (fresh filesystem,
    same Cloud SQL, same bucket); the new instance decrypts the secret, and shows the edit in
    dev, while prod refused it and shows the pipeline unchanged."""
    stack = stack_cloud.plan.stack
    name = f"contract_{secrets.token_hex(4)}"
    edited = f"edited by the contract test {secrets.token_hex(4)}"
    instance = start_ui_instance(stack_cloud, tmp_path, image)
    try:
        api = owner_api(stack_cloud, instance)
        status, body = api.call(
            "POST", "/api/secrets", {"secret": {"name": name, "value": secrets.token_hex(8)}}
        )
        assert status == 200 and "error" not in body, body
        assert name in secret_names(api)
        before = _description(api)
        status, body = api.call(
            "PUT", f"/api/pipelines/{PIPELINE}", {"pipeline": {"description": edited}}
        )
        accepted = status == 200 and "error" not in body
        instance = restart(instance)  # a new instance: fresh filesystem, same Cloud SQL
        api = owner_api(stack_cloud, instance)
        assert name in secret_names(api), (
            "the secret created before the restart is no longer decryptable"
        )
        after = _description(api)
        if stack == "prod":
            assert not accepted, f"prod accepted a pipeline edit: {body}"
            assert after == before
        else:
            assert accepted, f"dev refused a pipeline edit: {body}"
            assert after == edited, "the dev edit was lost with the instance's filesystem"
    finally:
        instance.stop()


def test_job_run_block_runs_and_logs_are_visible_from_another_instance(
    cloud_factory, image, tmp_path
):
    cloud = cloud_factory("dev")
    job = run_job(cloud, PIPELINE, tmp_path)
    assert job.returncode == 0, job.log()
    ui = start_ui_instance(cloud, tmp_path, image)  # never saw the job's filesystem
    try:
        api = owner_api(cloud, ui)
        deadline = time.monotonic() + 60
        runs: list[dict] = []
        while time.monotonic() < deadline and not runs:
            status, body = api.call("GET", f"/api/pipeline_runs?pipeline_uuid={PIPELINE}")
            assert status == 200 and "error" not in body, body
            runs = [r for r in body["pipeline_runs"] if r["status"] in TERMINAL]
            time.sleep(1)
        assert runs, "the job's run is not in Mage's UI"
        (run,) = runs
        assert run["status"] == "completed", run
        _, body = api.call("GET", f"/api/block_runs?pipeline_run_id={run['id']}")
        blocks = {b["block_uuid"]: b["status"] for b in body["block_runs"]}
        assert blocks and set(blocks.values()) == {"completed"}, blocks
        _, body = api.call("GET", f"/api/pipelines/{PIPELINE}/logs?pipeline_run_id[]={run['id']}")
        logs = body["logs"][0]
        block_logs = [entry for entry in logs.get("block_run_logs", []) if entry.get("content")]
        assert block_logs, f"no block logs of run {run['id']} from another instance: {logs}"
    finally:
        ui.stop()

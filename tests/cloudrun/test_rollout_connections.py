"""The connection budget, run: the planned UI and a backfill execution at the planned parallelism
at once, against the Cloud SQL stand-in that admits exactly as many connections as the planned
instance (its max_connections flag, 3 of them kept for superusers as on Cloud SQL)."""

from __future__ import annotations

from datetime import date

import pytest
from twin.samples import generate_sample_data
from twin.tasks import run_request

from infra.policy import policy_rules as rules
from tests.cloudrun.harness import planned_containers, run_execution, start_ui_instance
from tests.pg_peak import peak_connections

pytestmark = [pytest.mark.twin]
PIPELINE = "api_to_postgres"  # a Postgres sink: the most connections per task


def _flags(plan) -> dict[str, str]:
    instance = plan.one("gcp:sql/databaseInstance:DatabaseInstance")
    return {f["name"]: f["value"] for f in instance.get("settings", "databaseFlags")}


def test_the_stand_in_admits_what_the_planned_instance_admits(cloud_sql, dev_plan):
    with cloud_sql.admin_connect() as conn:
        (admitted,) = conn.execute("SHOW max_connections").fetchone()
        (reserved,) = conn.execute("SHOW superuser_reserved_connections").fetchone()
    assert admitted == _flags(dev_plan)["max_connections"]
    assert int(reserved) == rules.SQL_RESERVED_CONNECTIONS


def test_the_ui_and_a_backfill_at_planned_parallelism_fit_the_instance(
    cloud_factory, cloud_sql, image, twin, tmp_path
):
    cloud = cloud_factory("dev")
    parallelism = planned_containers(cloud.plan)["backfill"].parallelism
    months = [date(2021, m, 1) for m in range(1, parallelism + 1)]
    generate_sample_data(twin.data_dir, months=[("yellow", d.year, d.month) for d in months])
    config = cloud.plan.config
    _, body = run_request(
        config["gcp:project"], config["gcp:region"], cloud.plan.outputs["backfill_job"],
        PIPELINE, months, name="budget backfill",
    )  # fmt: skip
    for folder in ("ui", "backfill"):
        (tmp_path / folder).mkdir()
    ui = start_ui_instance(cloud, tmp_path / "ui", image)
    try:
        with peak_connections(cloud_sql.admin_connect) as peak:
            tasks = run_execution(
                cloud, "backfill", tmp_path / "backfill", body["overrides"], image
            )
    finally:
        ui.stop()
    for task in tasks:
        assert task.returncode == 0, task.log()[-3000:]
    usable = int(_flags(cloud.plan)["max_connections"]) - rules.SQL_RESERVED_CONNECTIONS
    budget = parallelism * rules.CONNECTIONS_PER_RUN + rules.CONNECTIONS_PER_UI
    print(f"peak client connections: {peak.value} (budget {budget}, usable {usable})")
    assert 0 < peak.value <= min(budget, usable), (peak.value, budget, usable)

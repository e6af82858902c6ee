"""The harness itself, without servers or the image: the planned env is refused when it differs
beyond the substitutions, TCP startup probes are refused, and every secret reference resolves to
a generated value. (The built image is checked in test_image.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from tools.offline import Plan

from tests.cloudrun.cloudsql import CloudSqlStandIn
from tests.cloudrun.harness import (
    Cloud,
    ContractError,
    Image,
    Instance,
    PlannedSecrets,
    planned_containers,
    wait_for_startup_probe,
)
from tests.infra.infra_plans import mutated

SERVICE = "gcp:cloudrunv2/service:Service"
TWIN_URLS = {
    "gcs": "http://127.0.0.1:1",
    "bigquery": "http://127.0.0.1:2",
    "files": "http://127.0.0.1:3",
}


#: An image that is never started: what the env checks read of one (no build needed).
OFFLINE_IMAGE = Image(
    env={"PATH": "/opt/venv/bin:/usr/bin:/bin", "PYTHONPATH": "/home/src"},
    workdir="/home/src", uid=10001, gid=10001, user_name="mage", user_home="/home/mage",
    rootfs=Path("/nonexistent"),
)  # fmt: skip


def offline_cloud(plan: Plan) -> Cloud:
    return Cloud(
        plan, PlannedSecrets(plan), CloudSqlStandIn(Path("/nonexistent"), port=15432), TWIN_URLS
    )


def with_container(plan: Plan, change) -> Plan:
    def edit(inputs):
        change(inputs["template"]["containers"][0])

    return Plan(plan.stack, plan.config, mutated(plan.resources, SERVICE, edit), plan.outputs)


def test_every_secret_reference_resolves_to_a_generated_value(stack_plan):
    secrets = PlannedSecrets(stack_plan)
    for name, container in planned_containers(stack_plan).items():
        assert container.secret_env, f"{name} reads no secret"
        for variable, secret_id in container.secret_env.items():
            value = secrets.value(secret_id)
            assert value and "mock-password" not in value, f"{name}: {variable} unresolved"
    passwords = stack_plan.of_type("random:index/randomPassword:RandomPassword")
    for resource in passwords:
        assert len(secrets.generated[f"mock-password-{resource.name}"]) == resource.get("length")


@pytest.mark.parametrize(
    ("variable", "value"),
    [("POSTGRES_HOST", "localhost"), ("POSTGRES_PORT", "6432")],
)
def test_a_planned_value_the_substitutions_do_not_expect_is_refused(dev_plan, variable, value):
    def change(container):
        for env in container["envs"]:
            if env["name"] == variable:
                env["value"] = value

    plan = with_container(dev_plan, change)
    image = OFFLINE_IMAGE
    with pytest.raises(ContractError, match=variable):
        Instance(offline_cloud(plan), planned_containers(plan)["ui"], "service", image, Path("/x"))


def test_a_tcp_startup_probe_is_refused(dev_plan):
    def change(container):
        container["startupProbe"] = {"tcpSocket": {"port": 6789}, "periodSeconds": 10}

    plan = with_container(dev_plan, change)
    container = planned_containers(plan)["ui"]
    instance = Instance(offline_cloud(plan), container, "service", OFFLINE_IMAGE, Path("/x"))
    with pytest.raises(ContractError, match="tcpSocket startup probe"):
        wait_for_startup_probe(instance)

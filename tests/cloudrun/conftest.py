"""Fixtures of the Cloud Run contract layer: the plans, one Cloud SQL stand-in per session, the
twin's emulators, and one :class:`~tests.cloudrun.harness.Cloud` per stack (docs/testing.md)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from tools.offline import Plan

from tests.cloudrun.cloudsql import CloudSqlStandIn
from tests.cloudrun.harness import Cloud, Image, PlannedSecrets, create_stack_storage

# The offline plans of the committed stacks, as tests/infra has them.
from tests.infra.conftest import dev_plan, stack_plan  # noqa: F401
from tests.infra.infra_plans import planned

ROOT_NEEDED = (
    "The Cloud Run contract tests drop to the image's uid in a private mount namespace, which "
    "needs root; run `make test` as root or as a user with passwordless sudo (it runs them through "
    "`sudo -n`), see docs/testing.md."
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test of this layer needs root: ``make test`` runs them as root (scripts/run_tests.sh)."""
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here):
            item.add_marker(pytest.mark.root)


@pytest.fixture(scope="session")
def image() -> Image:
    """The repository's Dockerfile built here (tools.image: buildah, cached layers), once per
    session; every planned container of this layer runs inside it."""
    if os.geteuid() != 0:
        pytest.fail(ROOT_NEEDED)
    return Image.built()


@pytest.fixture(scope="session")
def cloud_sql() -> Iterator[CloudSqlStandIn]:
    """Debian PostgreSQL with SSL only and Cloud SQL's roles, flags from the dev plan.

    Its data dir is a private dir directly in /tmp, not under pytest's ``pytest-of-<user>``,
    which other pytest sessions of the same user chmod back to 0700 (the server's OS user
    must traverse to it for as long as it runs)."""
    if os.geteuid() != 0:
        pytest.fail(ROOT_NEEDED)
    plan = planned("dev")
    instance = plan.one("gcp:sql/databaseInstance:DatabaseInstance")
    flags = {f["name"]: f["value"] for f in instance.get("settings", "databaseFlags") or []}
    root = Path(tempfile.mkdtemp(prefix="cloudsql-"))
    server = CloudSqlStandIn(root, flags=flags)
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def cloud_factory(cloud_sql, twin):
    """``cloud_factory(stack)``: the stack's Cloud on fresh databases (users shared per session,
    one generated password per RandomPassword name, as both stacks' plans name them alike)."""
    generated: dict[str, str] = {}

    def make(stack: str) -> Cloud:
        plan: Plan = planned(stack)
        secrets = PlannedSecrets(plan)
        secrets.generated = generated or secrets.generated
        generated.update(secrets.generated)
        databases = [d.get("name") for d in plan.of_type("gcp:sql/database:Database")]
        cloud_sql.reset(secrets.sql_users(), databases)
        urls = {k: twin.urls[k] for k in ("gcs", "bigquery", "files")}
        cloud = Cloud(plan=plan, secrets=secrets, sql=cloud_sql, twin_urls=urls)
        create_stack_storage(cloud)
        made.append(cloud)
        return cloud

    made: list[Cloud] = []
    yield make
    for cloud in made:  # what the Cloud Storage volumes held
        if cloud.volumes_root is not None:
            shutil.rmtree(cloud.volumes_root, ignore_errors=True)

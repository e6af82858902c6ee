"""Offline plans of the committed stacks, computed once per test session under Pulumi mocks."""

from __future__ import annotations

import pytest
from tools.offline import Plan

from tests.infra.infra_plans import planned


@pytest.fixture(scope="session")
def dev_plan() -> Plan:
    return planned("dev")


@pytest.fixture(scope="session")
def prod_plan() -> Plan:
    return planned("prod")


@pytest.fixture(scope="session", params=["dev", "prod"])
def stack_plan(request: pytest.FixtureRequest) -> Plan:
    return planned(request.param)

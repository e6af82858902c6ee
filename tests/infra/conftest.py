"""Offline plans of the committed stacks, computed once per test session under Pulumi mocks."""

from __future__ import annotations

import pytest
from infra_plans import planned
from tools.offline import Plan


@pytest.fixture(scope="session")
def dev_plan() -> Plan:
    return planned("dev")


@pytest.fixture(scope="session")
def prod_plan() -> Plan:
    return planned("prod")


@pytest.fixture(scope="session", params=["dev", "prod"])
def stack_plan(request: pytest.FixtureRequest) -> Plan:
    return planned(request.param)

"""The environment contract is defined once (mage_project/utils/env_contract.py): the twin, the
Pulumi program and the docs all read or are checked against it."""

from __future__ import annotations

import pytest

from mage_project.utils import env_contract
from mage_project.utils.image_contract import REPO_ROOT as ROOT


def test_docs_table_is_the_contract():
    text = (ROOT / "docs" / "CONTRACTS.md").read_text()
    table = text.split("<!-- env-contract:begin -->", 1)[1].split("<!-- env-contract:end -->")[0]
    assert table.strip() == env_contract.markdown_table(), (
        "docs/CONTRACTS.md is out of date: paste `python -m mage_project.utils.env_contract`."
    )


def test_each_place_fills_in_what_is_not_fixed():
    with pytest.raises(env_contract.ContractError, match=r"^The twin must fill in POSTGRES_PORT"):
        env_contract.resolve("twin", {})
    with pytest.raises(env_contract.ContractError, match=r"^EXTRA is not in the cloud's"):
        env_contract.resolve("cloud", {"EXTRA": "1"}, only_server=True)
    server = env_contract.resolve("twin", {}, only_server=True)
    assert server == {"ENV": "dev", "REQUIRE_USER_AUTHENTICATION": "0"}


def test_secrets_are_only_references_on_cloud_run():
    secret = env_contract.names("cloud", server=True, secret=True)
    assert secret == {
        "POSTGRES_PASSWORD",
        "MAGE_DATABASE_CONNECTION_URL",
        "DEFAULT_OWNER_PASSWORD",
        "JWT_SECRET",
        "MAGE_SECRETS_KEY",
    }
    assert not secret & env_contract.names("cloud", server=True, secret=False)


def test_emulator_hosts_are_twin_only():
    for name in ("STORAGE_EMULATOR_HOST", "BIGQUERY_EMULATOR_HOST"):
        assert name in env_contract.names("twin") and name not in env_contract.names("cloud")

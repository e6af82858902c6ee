"""docker-compose.yml mirrors the local twin: the same services, every contract variable set for
Mage, endpoints pointing at services that exist, images pinned, ports on loopback only."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlparse

import yaml

from mage_project.utils import env_contract

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def contract_variables() -> set[str]:
    """What the twin gives its Mage server, by the one contract (mage_project/utils/env_contract)."""
    return env_contract.names("twin", server=True)


def test_the_twins_services_are_all_there():
    assert {"postgres", "gcs", "bigquery", "files", "mage"} <= set(SERVICES)


def test_mage_gets_every_contract_variable():
    expected = contract_variables()
    assert len(expected) >= 15, expected
    env = SERVICES["mage"]["environment"]
    assert expected <= set(env), f"missing: {sorted(expected - set(env))}"


def test_endpoints_point_at_compose_services():
    env = SERVICES["mage"]["environment"]
    for key in ("STORAGE_EMULATOR_HOST", "BIGQUERY_EMULATOR_HOST", "TAXI_DATA_BASE_URL"):
        assert urlparse(env[key]).hostname in SERVICES, key
    assert env["POSTGRES_HOST"] in SERVICES
    assert "@postgres:5432/mage" in env["MAGE_DATABASE_CONNECTION_URL"]
    assert env["GCS_BUCKET"] in str(SERVICES["gcs-bucket"]["command"])
    assert f"--dataset={env['BIGQUERY_DATASET']}" in SERVICES["bigquery"]["command"]
    assert f"--project={env['GCP_PROJECT_ID']}" in SERVICES["bigquery"]["command"]


def test_mage_runs_this_repositorys_image_and_project():
    mage = SERVICES["mage"]
    assert mage["build"] == "."
    assert "./mage_project:/home/src/mage_project" in mage["volumes"]
    assert set(mage["depends_on"]) >= {"postgres", "gcs-bucket", "bigquery", "files"}


def test_images_are_pinned_and_ports_stay_on_loopback():
    for name, service in SERVICES.items():
        image = service.get("image", "")
        if "build" not in service:
            assert re.search(r":[0-9][\w.-]*$", image) and not image.endswith(":latest"), (
                name,
                image,
            )
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)


def test_postgres_creates_the_twins_databases():
    init = (ROOT / "docker" / "postgres-init" / "01-databases.sql").read_text()
    assert "CREATE DATABASE mage" in init and "CREATE SCHEMA IF NOT EXISTS ny_taxi" in init
    assert (
        SERVICES["postgres"]["environment"]["POSTGRES_DB"]
        == SERVICES["mage"]["environment"]["POSTGRES_DBNAME"]
    )

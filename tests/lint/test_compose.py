"""No compose file is offered: docker-compose.yml was a different product (another BigQuery
emulator, Mage as root, no warehouse table, port 5432 taken) that no test ran, so it was removed
(issue 20) and docs/configuration.md says why. `make up` is the local twin the tests run."""

from __future__ import annotations

from mage_project.utils.image_contract import REPO_ROOT as ROOT

COMPOSE_NAMES = ("docker-compose.yml", "docker-compose.yaml", "compose.yml", "compose.yaml")


def test_no_compose_file_is_offered():
    offered = [name for name in COMPOSE_NAMES if (ROOT / name).exists()]
    assert not offered, f"{offered}: a compose file no test runs; remove it or test it"


def test_the_docs_say_why_there_is_none_and_offer_no_compose_command():
    configuration = (ROOT / "docs" / "configuration.md").read_text()
    assert "## Why there is no docker-compose.yml" in configuration
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        assert "docker compose up" not in page.read_text(), f"{page.name} offers docker compose"

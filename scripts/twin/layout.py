"""Where the twin lives and what it is called: paths, and the names the env contract fixes."""

from __future__ import annotations

from mage_project.utils import env_contract
from mage_project.utils.image_contract import PROJECT, REPO_ROOT

DEFAULT_STATE_DIR = REPO_ROOT / ".twin"
MAGE_PROJECT = PROJECT
PROJECT_ID = env_contract.literal("twin", "GCP_PROJECT_ID")
BUCKET = env_contract.literal("twin", "GCS_BUCKET")
DATASET = env_contract.literal("twin", "BIGQUERY_DATASET")
#: The known library notices filtered in the Python the twin starts for Mage (its server, the
#: notebook's kernel and every run inherit it): the one list of the environment contract.
QUIET_WARNINGS = env_contract.QUIET_WARNINGS

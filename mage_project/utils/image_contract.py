"""What the image and everything that starts it agree on, besides the environment
(``env_contract``): where the project sits, the entrypoint's argv, a backfill task's command and
its retries, the default taxi source. Defined once, imports nothing of ours: the container
entrypoint (``mage_runner``), the Pulumi program (``infra``), the twin, the tools and the tests
all read it from here, and the Dockerfile's CMD is checked against it (tests/lint/test_dockerfile.py).
"""

from __future__ import annotations

from pathlib import Path

#: The Mage project's folder (the repository's ``mage_project/``; ``/home/src/mage_project`` in
#: the image) and the folder that holds it: the repository root here (``/home/src`` in the image).
PROJECT_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = PROJECT_DIR.parent

#: The project's name, the argument every command of the entrypoint takes.
PROJECT = PROJECT_DIR.name

#: The image's entrypoint, ``python`` of the image's PATH: ``RUNNER + [start|run|backfill, PROJECT]``.
RUNNER: tuple[str, ...] = ("python", "-m", "mage_runner")

#: How often Cloud Run retries a failed backfill task (the job's ``max_retries``); the local
#: runner (scripts/twin/tasks.py) retries as often.
TASK_RETRIES = 2

#: Where the taxi files come from unless ``TAXI_DATA_BASE_URL`` says otherwise (the stack's
#: ``taxiDataBaseUrl`` default, the blocks' default).
DEFAULT_TAXI_DATA_BASE_URL = "https://github.com/DataTalksClub/nyc-tlc-data/releases/download"


def runner_argv(command: str, python: str = "python", project: str = PROJECT) -> list[str]:
    """``python -m mage_runner <command> <project>``, with the image's ``python`` or another."""
    return [python, *RUNNER[1:], command, project]


def task_argv(python: str = "python", project: str = PROJECT) -> list[str]:
    """A backfill task's command: the job's entrypoint (``python`` of the image's PATH), or the
    same with a local interpreter (``make backfill PARALLEL=N``, ``make bench``)."""
    return runner_argv("backfill", python, project)

"""Backfills at scale: one Cloud Run v2 job whose execution has one task per slice.

`make backfill ... CLOUD=1` (scripts/twin/backfill.py) starts ONE execution through the Run API
``jobs/<name>:run`` with overrides ``taskCount`` (= number of slices) and the plan in the
container's env (``BACKFILL_PIPELINE``, ``BACKFILL_DATES``); each task runs
``python -m mage_runner backfill mage_project`` (scripts/mage_runner/backfill.py), which prepares
the instance (in dev it seeds a still-empty project volume, as the UI and the daily jobs do),
picks its slice from ``CLOUD_RUN_TASK_INDEX`` and runs the pipeline with that slice's
``execution_date``. ``parallelism`` caps the tasks that
run at once (it cannot be overridden per execution; it is stack config), and a failed task is
retried ``TASK_RETRIES`` times; slices are idempotent, so a retry or a re-run is safe.

Run API: https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.jobs/run
(``overrides.taskCount``, ``overrides.containerOverrides[].env``); task variables:
https://cloud.google.com/run/docs/container-contract#jobs-env-vars.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from infra.components.base import Component
from infra.components.runtime_env import ProjectContainerArgs
from infra.config import JobResources
from mage_project.utils.image_contract import TASK_RETRIES, task_argv

ENTRYPOINT = task_argv()


def backfill_job_name(prefix: str) -> str:
    return f"{prefix}-backfill"


@dataclass(kw_only=True)
class BackfillArgs(ProjectContainerArgs):
    """The shared container (in dev on the project volume, so a backfill runs the pipelines as
    the UI edited them, like the daily job) and the job's own settings."""

    parallelism: int
    size: JobResources


class Backfill(Component, area="backfill"):
    """``job``: the backfill job (no schedule: started on demand with per-execution overrides)."""

    def build(self, name: str, args: BackfillArgs) -> dict:
        task = args.job_task(
            ENTRYPOINT[:1],
            ENTRYPOINT[1:],
            max_retries=TASK_RETRIES,
            timeout_minutes=args.size.timeout_minutes,
        )
        # task_count 1: each execution overrides it with the number of slices.
        self.job = args.job(
            f"{name}-job",
            backfill_job_name(args.prefix),
            task,
            pulumi.ResourceOptions(parent=self, depends_on=args.depends_on),
            parallelism=args.parallelism,
        )
        return {"job": self.job.name}

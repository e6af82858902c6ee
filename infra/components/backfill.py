"""Backfills at scale: one Cloud Run v2 job whose execution has one task per slice.

`make backfill ... CLOUD=1` (scripts/twin/backfill.py) starts ONE execution through the Run API
``jobs/<name>:run`` with overrides ``taskCount`` (= number of slices) and the plan in the
container's env (``BACKFILL_PIPELINE``, ``BACKFILL_DATES``); each task runs
``python -m mage_project.backfill_task``, which picks its slice from ``CLOUD_RUN_TASK_INDEX``
and runs the pipeline with that slice's ``execution_date``. ``parallelism`` caps the tasks that
run at once (it cannot be overridden per execution; it is stack config), and a failed task is
retried ``TASK_RETRIES`` times; slices are idempotent, so a retry or a re-run is safe.

Run API: https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.jobs/run
(``overrides.taskCount``, ``overrides.containerOverrides[].env``); task variables:
https://cloud.google.com/run/docs/container-contract#jobs-env-vars.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from infra.components.runtime_env import PROJECT_DIR, RuntimeEnv, env_list, vpc_access
from mage_project.backfill_task import TASK_RETRIES

ENTRYPOINT = ["python", "-m", "mage_project.backfill_task"]


def backfill_job_name(prefix: str) -> str:
    return f"{prefix}-backfill"


@dataclass
class BackfillArgs:
    project: str
    region: str
    prefix: str
    image: pulumi.Input[str]
    service_account: pulumi.Input[str]
    env: RuntimeEnv
    network: pulumi.Input[str]
    subnet: pulumi.Input[str]
    parallelism: int = 4
    cpu: str = "1"
    memory: str = "2Gi"
    timeout_minutes: int = 60
    deletion_protection: bool = True
    depends_on: list[pulumi.Resource] = field(default_factory=list)


class Backfill(pulumi.ComponentResource):
    """``job``: the backfill job (no schedule: started on demand with per-execution overrides)."""

    def __init__(self, name: str, args: BackfillArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mage-gcp:backfill:Backfill", name, None, opts)
        self.job = gcp.cloudrunv2.Job(
            f"{name}-job",
            project=args.project,
            location=args.region,
            name=backfill_job_name(args.prefix),
            deletion_protection=args.deletion_protection,
            template={
                "task_count": 1,  # each execution overrides it with the number of slices
                "parallelism": args.parallelism,
                "template": {
                    "service_account": args.service_account,
                    "execution_environment": "EXECUTION_ENVIRONMENT_GEN2",
                    "max_retries": TASK_RETRIES,
                    "timeout": f"{args.timeout_minutes * 60}s",
                    "vpc_access": vpc_access(args.network, args.subnet),
                    "containers": [
                        {
                            "image": args.image,
                            "commands": ENTRYPOINT[:1],
                            "args": ENTRYPOINT[1:],
                            "working_dir": PROJECT_DIR,
                            "envs": env_list(args.env.plain(), args.env.secrets()),
                            "resources": {"limits": {"cpu": args.cpu, "memory": args.memory}},
                        }
                    ],
                },
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=args.depends_on),
        )
        self.register_outputs({"job": self.job.name})

"""Pipelines in the cloud without the UI: one Cloud Run v2 job per scheduled pipeline running
`mage run mage_project <pipeline>`, and a Cloud Scheduler job that starts it via the Run API."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.components.base import Component
from infra.components.runtime_env import PROJECT_NAME, RUNNER, ProjectContainerArgs
from infra.config import JobResources, Schedule

#: The Mage trigger the jobs' runs belong to (mage_runner creates it, type API, inactive).
TRIGGER = "cloud_scheduler"


@dataclass(kw_only=True)
class ScheduledRunsArgs(ProjectContainerArgs):
    scheduler_email: pulumi.Input[str]
    schedules: list[Schedule]
    size: JobResources


def mage_run_args(pipeline: str, variables: dict) -> list[str]:
    """The ``mage_runner run`` arguments for one pipeline and its runtime variables: migrations,
    then a Mage pipeline run of the ``cloud_scheduler`` trigger (blocks' @test functions run, as
    under Mage's scheduler)."""
    args = ["run", PROJECT_NAME, pipeline, "--test", "--trigger", TRIGGER]
    if variables:
        args += ["--runtime-vars", json.dumps(variables, sort_keys=True)]
    return args


def job_name(prefix: str, pipeline: str) -> str:
    return f"{prefix}-{pipeline.replace('_', '-')}"[:63]


class ScheduledRuns(Component, area="scheduled_runs"):
    """``jobs[pipeline]`` and ``triggers[pipeline]``; the scheduler SA may run these jobs only."""

    def build(self, name: str, args: ScheduledRunsArgs) -> dict:
        scheduler_member = pulumi.Output.from_input(args.scheduler_email).apply(
            lambda e: f"serviceAccount:{e}"
        )
        self.jobs: dict[str, gcp.cloudrunv2.Job] = {}
        self.triggers: dict[str, gcp.cloudscheduler.Job] = {}
        for schedule in args.schedules:
            key = schedule.pipeline.replace("_", "-")
            task = args.job_task(
                RUNNER,
                mage_run_args(schedule.pipeline, schedule.variables),
                max_retries=1,
                timeout_minutes=args.size.timeout_minutes,
            )
            job = args.job(
                f"{name}-{key}",
                job_name(args.prefix, schedule.pipeline),
                task,
                pulumi.ResourceOptions(parent=self, depends_on=args.depends_on),
            )
            invoker = gcp.cloudrunv2.JobIamMember(
                f"{name}-{key}-invoker",
                project=args.project,
                location=args.region,
                name=job.name,
                role="roles/run.invoker",
                member=scheduler_member,
                opts=self.child,
            )
            self.triggers[schedule.pipeline] = gcp.cloudscheduler.Job(
                f"{name}-{key}-schedule",
                project=args.project,
                region=args.region,
                name=f"{job_name(args.prefix, schedule.pipeline)}-schedule",
                description=f"Runs the Mage pipeline {schedule.pipeline}",
                schedule=schedule.cron,
                time_zone=schedule.time_zone,
                attempt_deadline="320s",
                retry_config={"retry_count": 1},
                http_target={
                    "http_method": "POST",
                    "uri": pulumi.Output.format(
                        "https://run.googleapis.com/v2/projects/{0}/locations/{1}/jobs/{2}:run",
                        args.project,
                        args.region,
                        job.name,
                    ),
                    "oauth_token": {
                        "service_account_email": args.scheduler_email,
                        "scope": "https://www.googleapis.com/auth/cloud-platform",
                    },
                },
                opts=pulumi.ResourceOptions(parent=self, depends_on=[invoker]),
            )
            self.jobs[schedule.pipeline] = job
        return {"jobs": {p: j.name for p, j in self.jobs.items()}}

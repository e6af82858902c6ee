"""Pipelines in the cloud without the UI: one Cloud Run v2 job per scheduled pipeline running
``python -m mage_runner run mage_project <pipeline>`` (a Mage pipeline run of the trigger
``cloud_scheduler``: in the UI with block runs and logs), and a Cloud Scheduler job that starts
it via the Run API."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from infra.components.runtime_env import (
    PROJECT_DIR,
    PROJECT_NAME,
    RUNNER,
    RuntimeEnv,
    edit_env,
    env_list,
    project_mount,
    project_volume,
    vpc_access,
)

#: The Mage trigger the jobs' runs belong to (mage_runner creates it, type API, inactive).
TRIGGER = "cloud_scheduler"


@dataclass
class ScheduledPipeline:
    pipeline: str
    cron: str
    time_zone: str = "Etc/UTC"
    variables: dict = field(default_factory=dict)


@dataclass
class ScheduledRunsArgs:
    project: str
    region: str
    prefix: str
    image: pulumi.Input[str]
    service_account: pulumi.Input[str]
    scheduler_email: pulumi.Input[str]
    env: RuntimeEnv
    network: pulumi.Input[str]
    subnet: pulumi.Input[str]
    schedules: list[ScheduledPipeline]
    cpu: str = "1"
    memory: str = "2Gi"
    timeout_minutes: int = 60
    deletion_protection: bool = True
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    #: As the UI service: "persist" runs the code on the project volume (UI edits included).
    ui_edits: str = "persist"
    state_bucket: pulumi.Input[str] | None = None


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


class ScheduledRuns(pulumi.ComponentResource):
    """``jobs[pipeline]`` and ``triggers[pipeline]``; the scheduler SA may run these jobs only."""

    def __init__(
        self, name: str, args: ScheduledRunsArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("mage-gcp:scheduled_runs:ScheduledRuns", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        scheduler_member = pulumi.Output.from_input(args.scheduler_email).apply(
            lambda e: f"serviceAccount:{e}"
        )
        self.jobs: dict[str, gcp.cloudrunv2.Job] = {}
        persist = args.ui_edits == "persist" and args.state_bucket is not None
        plain = args.env.plain() | (edit_env(args.ui_edits) if persist else {})
        self.triggers: dict[str, gcp.cloudscheduler.Job] = {}
        for schedule in args.schedules:
            key = schedule.pipeline.replace("_", "-")
            job = gcp.cloudrunv2.Job(
                f"{name}-{key}",
                project=args.project,
                location=args.region,
                name=job_name(args.prefix, schedule.pipeline),
                deletion_protection=args.deletion_protection,
                template={
                    "task_count": 1,
                    "template": {
                        "service_account": args.service_account,
                        "execution_environment": "EXECUTION_ENVIRONMENT_GEN2",
                        "max_retries": 1,
                        "timeout": f"{args.timeout_minutes * 60}s",
                        "vpc_access": vpc_access(args.network, args.subnet),
                        "volumes": [project_volume(args.state_bucket)] if persist else [],
                        "containers": [
                            {
                                "image": args.image,
                                "commands": RUNNER,
                                "args": mage_run_args(schedule.pipeline, schedule.variables),
                                "working_dir": PROJECT_DIR,
                                "envs": env_list(plain, args.env.secrets()),
                                "volume_mounts": [project_mount()] if persist else [],
                                "resources": {"limits": {"cpu": args.cpu, "memory": args.memory}},
                            }
                        ],
                    },
                },
                opts=pulumi.ResourceOptions(parent=self, depends_on=args.depends_on),
            )
            invoker = gcp.cloudrunv2.JobIamMember(
                f"{name}-{key}-invoker",
                project=args.project,
                location=args.region,
                name=job.name,
                role="roles/run.invoker",
                member=scheduler_member,
                opts=child,
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
        self.register_outputs({"jobs": {p: j.name for p, j in self.jobs.items()}})

"""Alerts on failed pipeline runs, by e-mail to the configured channels:

- a job execution that failed: Cloud Run's built-in metric
  ``run.googleapis.com/job/completed_execution_count`` with ``result="failed"``
  (https://cloud.google.com/monitoring/api/metrics_gcp_p_z#gcp-run): a Google metric, so the
  policy is created at once (a log-based metric is refused with 404 for minutes after it is
  made: hashicorp/terraform-provider-google#11102), and no audit-log shape to rely on;
- a Cloud Scheduler call that was refused (the job never started: the scheduler account lost
  run.invoker, the job is gone, Cloud Run said no): a log-match condition on Scheduler's own
  ``AttemptFinished`` entry at ERROR (https://cloud.google.com/scheduler/docs/view-logs).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.components.base import Component
from infra.components.naming import formerly, keyed

FAILED_EXECUTIONS_METRIC = "run.googleapis.com/job/completed_execution_count"


@dataclass
class MonitoringArgs:
    project: str
    prefix: str
    alert_emails: list[str]


def failed_executions_filter(prefix: str) -> str:
    """Monitoring filter for this stack's failed job executions (the jobs are ``<prefix>-…``;
    Monitoring filters have ``starts_with``: https://cloud.google.com/monitoring/api/v3/filters)."""
    return (
        'resource.type = "cloud_run_job" '
        f'AND resource.labels.job_name = starts_with("{prefix}-") '
        f'AND metric.type = "{FAILED_EXECUTIONS_METRIC}" '
        'AND metric.labels.result = "failed"'
    )


def refused_schedules_filter(prefix: str) -> str:
    """Logging query for a Cloud Scheduler attempt of one of this stack's schedules that did not
    start its job (Scheduler logs every attempt as ``AttemptFinished``, at ERROR when the target
    refused it). The Logging query language has no ``starts_with()``: a regular expression
    (https://cloud.google.com/logging/docs/view/logging-query-language)."""
    return (
        'resource.type="cloud_scheduler_job" '
        f'AND resource.labels.job_id=~"^{prefix}-" '
        'AND jsonPayload."@type"="type.googleapis.com/google.cloud.scheduler.logging.AttemptFinished" '
        "AND severity>=ERROR"
    )


class Monitoring(Component, area="monitoring"):
    """``channels``, ``failed_runs`` (a metric threshold) and ``refused_schedules`` (a log match:
    one condition and a notification rate limit, as such policies must have:
    https://cloud.google.com/logging/docs/alerting/log-based-alerts)."""

    def build(self, name: str, args: MonitoringArgs) -> dict:
        self.channels = [
            gcp.monitoring.NotificationChannel(
                logical,
                project=args.project,
                display_name=f"Mage alerts to {email}",
                type="email",
                labels={"email_address": email},
                opts=formerly(self.child, f"{name}-email-{i}"),
            )
            for i, (logical, email) in enumerate(keyed(f"{name}-email", args.alert_emails).items())
        ]
        channels = [c.id for c in self.channels]
        self.failed_runs = self._alert(
            f"{name}-failed-runs-policy",
            args,
            channels,
            "Mage pipeline run failed",
            {
                "display_name": "A pipeline job execution failed",
                "condition_threshold": {
                    "filter": failed_executions_filter(args.prefix),
                    "comparison": "COMPARISON_GT",
                    "threshold_value": 0,
                    "duration": "0s",
                    "aggregations": [
                        {"alignment_period": "300s", "per_series_aligner": "ALIGN_SUM"}
                    ],
                    "trigger": {"count": 1},
                },
            },
            "A Mage pipeline job execution failed (the alert names the job). "
            "Open Cloud Run > Jobs > the job's executions for its logs, fix, then re-run it "
            "with `gcloud run jobs execute <job> --region <region> --project <project>`.",
            {"auto_close": "86400s"},
        )
        self.refused_schedules = self._alert(
            f"{name}-refused-schedules-policy",
            args,
            channels,
            "Mage schedule did not start its job",
            {
                "display_name": "Cloud Scheduler's call to the job was refused",
                "condition_matched_log": {
                    "filter": refused_schedules_filter(args.prefix),
                    "label_extractors": {"schedule": "EXTRACT(resource.labels.job_id)"},
                },
            },
            "Cloud Scheduler could not start a Mage pipeline job, so the run did "
            "not happen. The log entry's status says why (PERMISSION_DENIED: the scheduler "
            "account lost run.invoker on the job; NOT_FOUND: the job is gone). Fix it with "
            "`pulumi up`, then run the job once with `gcloud run jobs execute`.",
            {"notification_rate_limit": {"period": "300s"}, "auto_close": "86400s"},
        )
        self.policy = self.failed_runs
        return {"policy": self.failed_runs.name, "refused_policy": self.refused_schedules.name}

    def _alert(
        self,
        logical: str,
        args: MonitoringArgs,
        channels: list[pulumi.Output[str]],
        display_name: str,
        condition: dict,
        runbook: str,
        strategy: dict,
    ) -> gcp.monitoring.AlertPolicy:
        """One alert policy on one condition, to every channel, with its runbook as markdown."""
        return gcp.monitoring.AlertPolicy(
            logical,
            project=args.project,
            display_name=display_name,
            combiner="OR",
            conditions=[condition],
            notification_channels=channels,
            alert_strategy=strategy,
            documentation={"content": runbook, "mime_type": "text/markdown"},
            opts=self.child,
        )

"""An alert on failed pipeline runs: a log-based alert policy (a ``condition_matched_log``
condition, no log-based metric) notifying the configured e-mail channels."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi_gcp as gcp

from infra.components.base import Component
from infra.components.naming import formerly, keyed


@dataclass
class MonitoringArgs:
    project: str
    prefix: str
    alert_emails: list[str] = field(default_factory=list)


def failed_runs_filter(prefix: str) -> str:
    """Logging query for a failed execution of one of this stack's jobs.

    Cloud Run records the end of each ``Jobs.RunJob`` long-running operation as an audit entry in
    the ``cloudaudit.googleapis.com/system_event`` log of the ``cloud_run_job`` resource, with
    severity ERROR when the execution failed (https://cloud.google.com/run/docs/audit-logging,
    https://cloud.google.com/logging/docs/audit/understanding-audit-logs). The job-name prefix
    is a regular expression (``=~``): the Logging query language has no ``starts_with()``
    (https://cloud.google.com/logging/docs/view/logging-query-language).
    """
    return (
        'resource.type="cloud_run_job" '
        f'AND resource.labels.job_name=~"^{prefix}-" '
        'AND log_id("cloudaudit.googleapis.com/system_event") '
        'AND protoPayload.methodName="/Jobs.RunJob" '
        "AND severity>=ERROR"
    )


class Monitoring(Component, area="monitoring"):
    """``channels`` and ``policy``.

    A threshold condition on a new log-based metric is refused with 404 for up to ~10 minutes
    after the metric is created (hashicorp/terraform-provider-google#11102), so a first `up`
    would fail; a log-match condition needs no metric and is created at once
    (https://cloud.google.com/logging/docs/alerting/log-based-alerts). Such a policy must set
    ``alert_strategy.notification_rate_limit`` and have exactly one condition.
    """

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
        self.policy = gcp.monitoring.AlertPolicy(
            f"{name}-failed-runs-policy",
            project=args.project,
            display_name="Mage pipeline run failed",
            combiner="OR",
            conditions=[
                {
                    "display_name": "A pipeline job execution failed",
                    "condition_matched_log": {
                        "filter": failed_runs_filter(args.prefix),
                        "label_extractors": {"job_name": "EXTRACT(resource.labels.job_name)"},
                    },
                }
            ],
            notification_channels=[c.id for c in self.channels],
            alert_strategy={
                "notification_rate_limit": {"period": "300s"},
                "auto_close": "86400s",
            },
            documentation={
                "content": "A Mage pipeline job failed. Open Cloud Run > Jobs > the job's "
                "executions for its logs, fix, then re-run it with `gcloud run jobs execute`.",
                "mime_type": "text/markdown",
            },
            opts=self.child,
        )
        return {"policy": self.policy.name}

"""An alert on failed pipeline runs: a log-based metric counting failed Cloud Run job
executions and an alert policy notifying the configured e-mail channels."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from infra.components.base import Component
from infra.components.naming import formerly, keyed


@dataclass
class MonitoringArgs:
    project: str
    prefix: str
    alert_emails: list[str] = field(default_factory=list)


def failed_runs_filter(prefix: str) -> str:
    """Cloud Run logs one system entry per execution that ends in failure."""
    return (
        'resource.type="cloud_run_job" '
        f'AND resource.labels.job_name=starts_with("{prefix}-") '
        'AND log_id("run.googleapis.com/varlog/system") '
        'AND severity>=ERROR AND textPayload:"failed to complete"'
    )


class Monitoring(Component, area="monitoring"):
    """``metric``, ``channels`` and ``policy``."""

    def build(self, name: str, args: MonitoringArgs) -> dict:
        metric_name = f"{args.prefix}-failed-pipeline-runs"
        self.metric = gcp.logging.Metric(
            f"{name}-failed-runs",
            project=args.project,
            name=metric_name,
            description="Failed executions of the Mage pipeline jobs",
            filter=failed_runs_filter(args.prefix),
            metric_descriptor={
                "metric_kind": "DELTA",
                "value_type": "INT64",
                "unit": "1",
                "labels": [{"key": "job_name", "value_type": "STRING"}],
            },
            label_extractors={"job_name": "EXTRACT(resource.labels.job_name)"},
            opts=self.child,
        )
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
                    "condition_threshold": {
                        "filter": pulumi.Output.format(
                            'metric.type="logging.googleapis.com/user/{0}" '
                            'AND resource.type="cloud_run_job"',
                            self.metric.name,
                        ),
                        "comparison": "COMPARISON_GT",
                        "threshold_value": 0,
                        "duration": "0s",
                        "aggregations": [
                            {"alignment_period": "300s", "per_series_aligner": "ALIGN_DELTA"}
                        ],
                        "trigger": {"count": 1},
                    },
                }
            ],
            notification_channels=[c.id for c in self.channels],
            alert_strategy={"auto_close": "86400s"},
            documentation={
                "content": "A Mage pipeline job failed. Open Cloud Run > Jobs > the job's "
                "executions for its logs, fix, then re-run it with `gcloud run jobs execute`.",
                "mime_type": "text/markdown",
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.metric]),
        )
        return {"policy": self.policy.name}

"""The BigQuery dataset the pipelines export to."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp


@dataclass
class WarehouseArgs:
    project: str
    dataset_id: str
    location: str


class Warehouse(pulumi.ComponentResource):
    """A dataset whose access is granted per service account on the dataset only."""

    def __init__(self, name: str, args: WarehouseArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mage-gcp:warehouse:Warehouse", name, None, opts)
        self.dataset = gcp.bigquery.Dataset(
            f"{name}-dataset",
            project=args.project,
            dataset_id=args.dataset_id,
            location=args.location,
            description="NYC taxi tables loaded by Mage pipelines",
            delete_contents_on_destroy=False,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.dataset_id = self.dataset.dataset_id
        self.register_outputs({"dataset": self.dataset.dataset_id})

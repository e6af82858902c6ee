"""The BigQuery dataset the pipelines export to."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi_gcp as gcp

from infra.components.base import Component


@dataclass
class WarehouseArgs:
    project: str
    dataset_id: str
    location: str


class Warehouse(Component, area="warehouse"):
    """A dataset whose access is granted per service account on the dataset only."""

    def build(self, name: str, args: WarehouseArgs) -> dict:
        self.dataset = gcp.bigquery.Dataset(
            f"{name}-dataset",
            project=args.project,
            dataset_id=args.dataset_id,
            location=args.location,
            description="NYC taxi tables loaded by Mage pipelines",
            delete_contents_on_destroy=False,
            opts=self.child,
        )
        self.dataset_id = self.dataset.dataset_id
        return {"dataset": self.dataset.dataset_id}

"""The BigQuery dataset and the taxi table the pipelines load into.

The table is the stack's, declared from the one definition the twin and the pipelines read
(``mage_project/utils/schema.py``: ``YELLOW_WAREHOUSE``): partitioned by MONTH on
``source_month_start`` (one partition per source file, replaced by a load job into
``table$YYYYMM``), clustered on pickup date, pickup zone and vendor, and protected from
deletion where the stack says so (prod). The pipelines never create or reshape it.

Provider docs: https://www.pulumi.com/registry/packages/gcp/api-docs/bigquery/table/
(``time_partitioning``, ``clusterings``, ``deletion_protection``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi_gcp as gcp

from infra.components.base import Component
from mage_project.utils.schema import YELLOW_WAREHOUSE, WarehouseTable


@dataclass
class WarehouseArgs:
    project: str
    dataset_id: str
    location: str
    deletion_protection: bool
    table: WarehouseTable = YELLOW_WAREHOUSE


class Warehouse(Component, area="warehouse"):
    """A dataset whose access is granted per service account on the dataset only, and its
    partitioned, clustered trips table."""

    def build(self, name: str, args: WarehouseArgs) -> dict:
        self.dataset = self.own(
            gcp.bigquery.Dataset,
            "dataset",
            dataset_id=args.dataset_id,
            location=args.location,
            description="NYC taxi tables loaded by Mage pipelines",
            # dev: destroy also drops tables the pipelines made; prod refuses while any exist.
            delete_contents_on_destroy=not args.deletion_protection,
        )
        spec = args.table
        self.table = gcp.bigquery.Table(
            f"{name}-{spec.table_id.replace('_', '-')}",
            project=args.project,
            dataset_id=self.dataset.dataset_id,
            table_id=spec.table_id,
            description=(
                f"{spec.trips.color} taxi trips; one MONTH partition per source file "
                f"({spec.partition_field}), replaced by a load job into {spec.table_id}$YYYYMM"
            ),
            schema=json.dumps(spec.schema_json()),
            time_partitioning={"type": spec.partition_type, "field": spec.partition_field},
            clusterings=list(spec.clustering),
            deletion_protection=args.deletion_protection,
            opts=self.child,
        )
        self.dataset_id = self.dataset.dataset_id
        self.table_id = self.table.table_id
        return {"dataset": self.dataset.dataset_id, "table": self.table.table_id}

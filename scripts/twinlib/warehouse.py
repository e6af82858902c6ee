"""The twin creates the BigQuery table at start, as the stack does (infra/components/
warehouse.py), from the same definition (mage_project/utils/schema.py): the pipelines only load
into it."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request

from .core import REPO_ROOT, TwinError

if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from mage_project.utils.schema import YELLOW_WAREHOUSE, WarehouseTable  # noqa: E402


def table_resource(spec: WarehouseTable, project: str, dataset: str) -> dict:
    """The BigQuery REST ``Table`` resource of ``spec`` (partitioning, clustering, schema)."""
    return {
        "tableReference": {"projectId": project, "datasetId": dataset, "tableId": spec.table_id},
        "schema": {"fields": spec.schema_json()},
        "timePartitioning": {"type": spec.partition_type, "field": spec.partition_field},
        "clustering": {"fields": list(spec.clustering)},
    }


def create_table(
    bigquery_url: str, project: str, dataset: str, spec: WarehouseTable = YELLOW_WAREHOUSE
) -> None:
    """Create ``dataset.<spec.table_id>`` through the emulator's REST API unless it exists."""
    body = json.dumps(table_resource(spec, project, dataset)).encode()
    request = urllib.request.Request(
        f"{bigquery_url}/bigquery/v2/projects/{project}/datasets/{dataset}/tables",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10):
            return
    except urllib.error.HTTPError as error:
        if error.code == 409:  # already exists (a twin restarted on its state dir)
            return
        raise TwinError(
            f"The BigQuery emulator refused to create table {dataset}.{spec.table_id} "
            f"(HTTP {error.code}: {error.read()[:300]!r}); see its log."
        ) from error

"""The twin creates the BigQuery table at start, as the stack does (infra/components/
warehouse.py), from the same definition (mage_project/utils/schema.py): the pipelines only load
into it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from mage_project.utils.schema import YELLOW_WAREHOUSE, WarehouseTable
from twin.errors import TwinError


def table_resource(spec: WarehouseTable, project: str, dataset: str) -> dict:
    """The BigQuery REST ``Table`` resource of ``spec`` (partitioning, clustering, schema)."""
    return {
        "tableReference": {"projectId": project, "datasetId": dataset, "tableId": spec.table_id},
        "schema": {"fields": spec.schema_json()},
        "timePartitioning": {"type": spec.partition_type, "field": spec.partition_field},
        "clustering": {"fields": list(spec.clustering)},
    }


def _call(method: str, url: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json"}, method=method
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read()
    return json.loads(text) if text else {}


def _same_shape(existing: dict, wanted: dict) -> bool:
    fields = [(f["name"], f["type"]) for f in existing.get("schema", {}).get("fields", [])]
    partitioning = existing.get("timePartitioning") or {}
    return fields == [(f["name"], f["type"]) for f in wanted["schema"]["fields"]] and (
        partitioning.get("type"),
        partitioning.get("field"),
    ) == (wanted["timePartitioning"]["type"], wanted["timePartitioning"]["field"])


def create_table(
    bigquery_url: str, project: str, dataset: str, spec: WarehouseTable = YELLOW_WAREHOUSE
) -> None:
    """Create ``dataset.<spec.table_id>`` through the emulator's REST API unless it exists with
    this shape; a table of another shape (e.g. the unpartitioned one older versions of the
    pipelines created in ``.twin``) is replaced, as ``pulumi up`` replaces it in the cloud."""
    wanted = table_resource(spec, project, dataset)
    tables = f"{bigquery_url}/bigquery/v2/projects/{project}/datasets/{dataset}/tables"
    try:
        try:
            existing = _call("GET", f"{tables}/{spec.table_id}")
        except urllib.error.HTTPError as error:
            if error.code != 404:
                raise
        else:
            if _same_shape(existing, wanted):
                return
            _call("DELETE", f"{tables}/{spec.table_id}")
        _call("POST", tables, wanted)
    except urllib.error.HTTPError as error:
        raise TwinError(
            f"The BigQuery emulator refused to create table {dataset}.{spec.table_id} "
            f"(HTTP {error.code}: {error.read()[:300]!r}); see its log."
        ) from error

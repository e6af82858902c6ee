"""Calls to the BigQuery emulator's REST API the twin needs at start-up."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from twin.errors import TwinError


def create_dataset(bigquery_url: str, project: str, dataset: str) -> None:
    """Create the dataset through the emulator's REST API unless it exists."""
    body = json.dumps({"datasetReference": {"projectId": project, "datasetId": dataset}}).encode()
    request = urllib.request.Request(
        f"{bigquery_url}/bigquery/v2/projects/{project}/datasets",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10):
            return
    except urllib.error.HTTPError as error:
        if error.code == 409:  # already exists
            return
        raise TwinError(
            f"The BigQuery emulator refused to create dataset {project}.{dataset} "
            f"(HTTP {error.code}); see its log."
        ) from error

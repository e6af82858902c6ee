"""Mage's own Google integrations (the GCS/BigQuery templates and SQL blocks on BigQuery) work
without key files: ADC in the cloud, the emulators on the twin. See docs/mage-integrations.md."""

from __future__ import annotations

import hashlib
import http.server
import inspect
import json
import os
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest

from mage_project.utils.image_contract import REPO_ROOT

PROJECT = REPO_ROOT / "mage_project"
HERE = Path(__file__).resolve().parent
PY = sys.executable
#: What a shell gets from `eval "$(python -m twin env)"` that the stock google-cloud clients read.
STOCK_CLIENT_VARIABLES = (
    "STORAGE_EMULATOR_HOST",
    "BIGQUERY_EMULATOR_HOST",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_CLOUD_PROJECT",
)

#: What our io_config relies on in Mage 0.9.80: ``ConfigFileLoader.contains`` is true for a key
#: present with a null value; ``with_config`` then passes ``path_to_credentials=None``; the
#: constructors skip a None path and build the google-cloud client with ``credentials=None``
#: (Application Default Credentials). The SQL block's BigQuery branch calls ``with_config``.
#: A Mage upgrade that changes any of these must be re-checked (docs/mage-integrations.md).
PINNED_MAGE = "0.9.80"
PINNED_SOURCES = {
    "mage_ai.io.config:ConfigFileLoader.contains": "e6fd4ad3d9e9ff50",
    "mage_ai.io.bigquery:BigQuery.with_config": "317d4803f3ad47a6",
    "mage_ai.io.bigquery:BigQuery.__init__": "a4f035cb4e589008",
    "mage_ai.io.google_cloud_storage:GoogleCloudStorage.with_config": "f0e753b02bdc0633",
    "mage_ai.io.google_cloud_storage:GoogleCloudStorage.__init__": "0a485ce8bec55d26",
    "mage_ai.data_preparation.models.block.sql:execute_sql_code": "a26f94924da4cc6c",
}


def source_hash(target: str) -> str:
    module_name, attribute = target.split(":")
    obj = __import__(module_name, fromlist=["_"])
    for part in attribute.split("."):
        obj = getattr(obj, part)
    return hashlib.sha256(inspect.getsource(obj).encode()).hexdigest()[:16]


def test_mage_version_and_credential_code_are_the_ones_checked():
    found = version("mage-ai")
    changed = [t for t, digest in PINNED_SOURCES.items() if source_hash(t) != digest]
    assert found == PINNED_MAGE and not changed, (
        f"mage-ai is {found} (checked: {PINNED_MAGE}) and these changed: {changed}; Mage's "
        "BigQuery/GCS credential handling must be re-checked against io_config.yaml's null "
        "GOOGLE_SERVICE_ACC_KEY_FILEPATH (docs/mage-integrations.md), then update the pins in "
        "tests/integrations/test_mage_google.py."
    )


class _Metadata(http.server.BaseHTTPRequestHandler):
    """The two answers Cloud Run's metadata server gives google-auth: project and token."""

    def do_GET(self) -> None:  # noqa: N802
        if self.headers.get("Metadata-Flavor") != "Google":
            self.send_error(403)
            return
        path = self.path.split("?")[0]
        bodies = {
            "/": ("application/text", b""),
            "/computeMetadata/v1/project/project-id": ("application/text", b"cloud-project"),
            "/computeMetadata/v1/instance/service-accounts/default/": (
                "application/json",
                json.dumps({"email": "mage-runtime@cloud-project.iam.gserviceaccount.com",
                            "aliases": ["default"], "scopes": []}).encode(),
            ),
            "/computeMetadata/v1/instance/service-accounts/default/token": (
                "application/json",
                json.dumps({"access_token": "runtime-sa-token", "expires_in": 3600,
                            "token_type": "Bearer"}).encode(),
            ),
            "/computeMetadata/v1/universe/universe-domain": ("application/text", b"googleapis.com"),
        }  # fmt: skip
        if path not in bodies:
            self.send_error(404)
            return
        content_type, body = bodies[path]
        self.send_response(200)
        self.send_header("Metadata-Flavor", "Google")
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def metadata_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Metadata)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_cloud_run_path_uses_the_runtime_identity_from_the_metadata_server(
    metadata_server, tmp_path
):
    """As on Cloud Run: no key, no emulator; Mage's classes get the metadata server's identity."""
    drop = ("GOOGLE_APPLICATION_CREDENTIALS", "STORAGE_EMULATOR_HOST", "BIGQUERY_EMULATOR_HOST",
            "GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "CLOUDSDK_CONFIG")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(
        HOME=str(tmp_path),  # no gcloud ADC file of the person running the tests
        GCE_METADATA_HOST=metadata_server,
        GCE_METADATA_IP=metadata_server,
        GCP_REGION="europe-west1",
    )
    result = subprocess.run(
        [PY, str(HERE / "metadata_check.py"), str(PROJECT / "io_config.yaml")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    built = json.loads(result.stdout.strip().splitlines()[-1])
    assert built == {
        "bq_metadata_identity": True,
        "gcs_metadata_identity": True,
        "bq_project": "cloud-project",
        "bq_location": "europe-west1",
        "bq_endpoint": "https://bigquery.googleapis.com",
        "gcs_endpoint": "https://storage.googleapis.com",
        "token": "runtime-sa-token",
    }


def test_template_blocks_added_through_mage_run_on_the_emulators(twin, twin_env, tmp_path):
    """A user's pipeline: Mage's GCS sensor and loader templates -> a SQL block on BigQuery, plus
    Mage's GCS exporter template, added with Mage's block API in a copy of the project and run with
    ``mage run``; the data lands in the twin's emulators (read back with stock clients)."""
    import pyarrow.parquet as pq
    from google.cloud import bigquery, storage

    project = tmp_path / "mage_project"
    shutil.copytree(PROJECT, project, ignore=shutil.ignore_patterns("mage_data", "__pycache__"))
    pipeline, table = (
        f"course_gcs_to_bq_{uuid.uuid4().hex[:6]}",
        f"course_trips_{uuid.uuid4().hex[:6]}",
    )
    bucket, source = twin.env["GCS_BUCKET"], f"{pipeline}/trips.csv"
    clients_env = {k: twin_env[k] for k in STOCK_CLIENT_VARIABLES}
    with pytest.MonkeyPatch.context() as mp:
        for name, value in clients_env.items():
            mp.setenv(name, value)
        gcs, bq = storage.Client(), bigquery.Client()  # stock clients, configured by env only
        gcs.bucket(bucket).blob(source).upload_from_string("vendor_id,fare\n1,2.5\n2,7.25\n")

        for command in (
            [PY, str(HERE / "build_template_pipeline.py"), str(project), pipeline, bucket, source, table],
            [str(Path(PY).parent / "mage"), "run", str(project), pipeline],
        ):  # fmt: skip
            result = subprocess.run(
                command, env=twin_env, cwd=tmp_path, capture_output=True, text=True, timeout=300
            )
            assert result.returncode == 0 and "Traceback" not in result.stdout, (
                result.stdout[-4000:] + result.stderr[-4000:]
            )

        rows = bq.query(f"SELECT vendor_id, fare FROM ny_taxi.{table} ORDER BY vendor_id").result()
        assert [tuple(row.values()) for row in rows] == [(1, 2.5), (2, 7.25)]
        copy = tmp_path / "copy.parquet"
        gcs.bucket(bucket).blob(f"{pipeline}/copy.parquet").download_to_filename(copy)
        assert pq.read_table(copy).to_pydict() == {"vendor_id": [1, 2], "fare": [2.5, 7.25]}
    assert not (PROJECT / "pipelines" / pipeline).exists()

"""A fresh instance filesystem keeps what the hosted Mage must remember (issue 9), on the twin:
a secret made through Mage's own secrets API stays readable after MAGE_DATA_DIR is thrown away
when the key comes from MAGE_SECRETS_KEY (and is lost without it: the bug); the dev project
volume is seeded once and never overwrites an edit; block outputs go to GCS
(``remote_variables_dir``) through the twin's emulator."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import textwrap

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from mage_runner import instance
from twin.pipelines import run_pipeline

from mage_project.utils.image_contract import REPO_ROOT as REPO

pytestmark = pytest.mark.twin

#: Runs in a fresh interpreter (Mage reads its settings at import): prepare the instance as
#: `python -m mage_runner start` does, then use Mage's secrets API.
MAGE_SECRETS = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from mage_runner import instance
    from mage_runner.runs import prepare_database
    project = Path("mage_project").resolve()
    instance.prepare(project)
    prepare_database(str(project))
    from mage_ai.data_preparation.shared.secrets import create_secret, get_secret_value
    if sys.argv[1] == "create":
        create_secret(sys.argv[2], "s3cr3t-value")
    else:
        print("VALUE=" + str(get_secret_value(sys.argv[2], suppress_warning=True)))
    """
)


def mage_secrets(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", MAGE_SECRETS, *args], env=env, cwd=REPO,
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.mark.parametrize("with_key", [True, False], ids=["key-from-secret-manager", "no-key"])
def test_a_ui_secret_survives_a_fresh_instance_only_with_the_injected_key(twin, tmp_path, with_key):
    data_dir = tmp_path / "mage_data"
    env = twin.subprocess_env() | {"MAGE_DATA_DIR": str(data_dir), "PYTHONWARNINGS": "ignore"}
    env.pop("MAGE_SECRETS_KEY", None)
    if with_key:
        env["MAGE_SECRETS_KEY"] = base64.b64encode(os.urandom(32)).decode()
    name = f"restart_{tmp_path.name[-12:]}_{with_key}".replace("-", "_")
    mage_secrets(env, "create", name)
    assert (data_dir / "secrets" / "key").is_file()
    shutil.rmtree(data_dir)  # the instance is gone; a new one starts with an empty disk
    value = mage_secrets(env, "read", name).strip().splitlines()[-1]
    assert value == ("VALUE=s3cr3t-value" if with_key else "VALUE=None")


def test_a_malformed_key_is_refused_with_one_sentence(tmp_path):
    with pytest.raises(instance.InstanceError, match="is not a base64 encoding of 32 bytes"):
        instance.prepare(tmp_path, {"MAGE_SECRETS_KEY": "short", "MAGE_DATA_DIR": str(tmp_path)})


def test_the_key_file_is_mages_format_and_private(tmp_path):
    raw = os.urandom(32)
    instance.prepare(
        REPO / "mage_project",
        {"MAGE_SECRETS_KEY": base64.b64encode(raw).decode(), "MAGE_DATA_DIR": str(tmp_path)},
    )
    key = tmp_path / "secrets" / "key"
    assert base64.urlsafe_b64decode(key.read_text()) == raw
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    scopes = {p.parent.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("key")}
    assert "secrets/projects/c46c096400414bd096f8639f5c7a2414/pipelines/green_taxi_etl" in scopes


def test_the_project_volume_is_seeded_once_and_edits_survive_the_next_start(tmp_path):
    volume = tmp_path / "volume"
    env = {"MAGE_PROJECT_SEED": str(REPO / "mage_project")}
    assert instance.prepare(volume, env) == [f"seeded {volume} from {REPO / 'mage_project'}"]
    edited = volume / "pipelines" / "green_taxi_etl" / "metadata.yaml"
    edited.write_text(edited.read_text() + "# edited in the UI\n")
    (volume / "pipelines" / "made_in_ui").mkdir()
    assert instance.prepare(volume, env) == []  # the next instance
    assert edited.read_text().endswith("# edited in the UI\n")
    assert (volume / "pipelines" / "made_in_ui").is_dir()


def test_a_seed_that_fails_half_way_is_not_taken_for_the_project(tmp_path):
    """The project's metadata.yaml says "seeded": a copy that failed on one file must leave it
    out, so the next start (or another task starting at the same moment) seeds again."""
    import shutil

    seed = tmp_path / "seed"
    shutil.copytree(REPO / "mage_project", seed, ignore=shutil.ignore_patterns(".file_versions"))
    (seed / "pipelines" / "green_taxi_etl" / "gone.py").symlink_to(tmp_path / "nowhere")
    volume = tmp_path / "volume"
    with pytest.raises(instance.InstanceError, match="No such file"):
        instance.prepare(volume, {"MAGE_PROJECT_SEED": str(seed)})
    assert not (volume / "metadata.yaml").exists(), "a partial copy looks seeded"
    (seed / "pipelines" / "green_taxi_etl" / "gone.py").unlink()
    assert instance.prepare(volume, {"MAGE_PROJECT_SEED": str(seed)}) == [
        f"seeded {volume} from {seed}"
    ]
    assert (volume / "metadata.yaml").read_bytes() == (seed / "metadata.yaml").read_bytes()


def test_a_volume_the_user_cannot_write_is_one_sentence(tmp_path, monkeypatch):
    """As on a Cloud Storage volume mounted without uid/gid (root's inodes, uid 10001 writes):
    the copy fails file by file; the start says what to fix in one sentence."""
    import shutil

    def denied(src, dst, **kwargs):
        raise shutil.Error([(str(src), str(dst), f"[Errno 13] Permission denied: '{dst}'")])

    monkeypatch.setattr(shutil, "copytree", denied)
    volume = tmp_path / "volume"
    with pytest.raises(instance.InstanceError) as error:
        instance.prepare(volume, {"MAGE_PROJECT_SEED": str(REPO / "mage_project")})
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"Cannot seed the project folder {volume}")
    assert "Permission denied" in message and "mount options uid and gid" in message


def test_block_outputs_go_to_gcs_with_remote_variables_dir(twin, tmp_path):
    prefix = f"variables-{tmp_path.name[-10:]}"
    bucket = twin.env["GCS_BUCKET"]
    env = twin.subprocess_env() | {"MAGE_REMOTE_VARIABLES_DIR": f"gs://{bucket}/{prefix}"}
    result = run_pipeline("api_to_postgres", env, log=tmp_path / "run.log", trigger="test_remote")
    assert result.ok, result.error
    client = storage.Client(project=twin.env["GCP_PROJECT_ID"], credentials=AnonymousCredentials(),
                            client_options={"api_endpoint": twin.env["STORAGE_EMULATOR_HOST"]})  # fmt: skip
    names = [
        b.name for b in client.list_blobs(bucket, prefix=f"{prefix}/pipelines/api_to_postgres/")
    ]
    outputs = {n.split("/.variables/")[1].split("/")[2] for n in names if "/output_0/" in n}
    assert outputs == {"load_yellow_month", "transform_yellow_month", "export_yellow_to_postgres"}

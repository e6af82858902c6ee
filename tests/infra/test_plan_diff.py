"""The offline plan diff (tools.plan_diff): what a pull request changes, with no credentials."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from infra_plans import planned
from tools.offline import Plan
from tools.plan_diff import diff, render, snapshot

ROOT = Path(__file__).resolve().parents[2]


def _resource(type_: str, logical: str, **inputs) -> dict:
    return {"type": type_, "name": logical, "parent": "", "custom": True, "inputs": inputs}


BUCKET = "gcp:storage/bucket:Bucket"
INSTANCE = "gcp:sql/databaseInstance:DatabaseInstance"
MEMBER = "gcp:projects/iAMMember:IAMMember"
BASE = {
    "config": {"mage-gcp:sqlTier": "db-f1-micro", "gcp:project": "p"},
    "resources": [
        _resource(INSTANCE, "database-instance", name="mage-sql", settings={"tier": "db-f1-micro"}),
        _resource(BUCKET, "storage-lake", name="p-mage-lake", location="US"),
        _resource(BUCKET, "old-bucket", name="p-old", location="US"),
        _resource(MEMBER, "ci-preview-viewer", role="roles/viewer", member="serviceAccount:a"),
        {"type": "mage-gcp:index:Storage", "name": "storage", "custom": False, "inputs": {}},
    ],
}
HEAD = {
    "config": {"mage-gcp:sqlTier": "db-g1-small", "gcp:project": "p"},
    "resources": [
        _resource(INSTANCE, "database-instance", name="mage-sql", settings={"tier": "db-g1-small"}),
        _resource(BUCKET, "storage-lake", name="p-mage-lake", location="EU"),
        _resource(BUCKET, "new-bucket", name="p-new", location="US"),
        _resource(MEMBER, "ci-preview-viewer", role="roles/browser", member="serviceAccount:a"),
        {"type": "mage-gcp:index:Storage", "name": "storage", "custom": False, "inputs": {}},
    ],
}


def test_synthetic_plans_show_added_removed_replaced_and_changed_keys():
    result = diff(BASE, HEAD, "dev")
    kinds = {(c.kind, c.name) for c in result.changes}
    assert kinds == {
        ("added", "new-bucket"),
        ("removed", "old-bucket"),
        ("replaced", "storage-lake"),  # location is ForceNew
        ("replaced", "ci-preview-viewer"),  # every input of an IAM member is ForceNew
        ("changed", "database-instance"),
    }
    (instance,) = [c for c in result.changes if c.name == "database-instance"]
    assert instance.keys == (("settings.tier", "db-f1-micro", "db-g1-small"),)
    assert result.config == [("mage-gcp:sqlTier", "db-f1-micro", "db-g1-small")]
    # Components are groupings, not resources: never reported.
    assert all(c.type != "mage-gcp:index:Storage" for c in result.changes)


def test_synthetic_diff_renders_as_markdown():
    text = render(diff(BASE, HEAD, "dev"))
    assert text.startswith("### Offline plan diff — stack `dev`")
    assert "1 added, 1 removed, 2 replaced, 1 changed." in text
    assert "| `mage-gcp:sqlTier` | `db-f1-micro` | `db-g1-small` |" in text
    assert (
        "| ~ changed | `database-instance` | sql.DatabaseInstance | `settings.tier` "
        "| `db-f1-micro` | `db-g1-small` |"
    ) in text
    assert "| + added | `new-bucket` | storage.Bucket | | |" in text
    assert "| − removed | `old-bucket` | storage.Bucket | | |" in text
    assert "| ± replaced | `storage-lake` | storage.Bucket | `location` | `US` | `EU` |" in text


def test_identical_plans_have_no_diff():
    assert render(diff(BASE, BASE, "dev")).endswith(
        "No change to the planned resources or the stack config.\n"
    )


def test_secret_values_are_never_printed():
    base = {"config": {}, "resources": [_resource("t:m/s:S", "s", secretData="old-value")]}
    head = {"config": {}, "resources": [_resource("t:m/s:S", "s", secretData="new-value")]}
    text = render(diff(base, head))
    assert "old-value" not in text and "new-value" not in text and "(secret)" in text


def test_real_plan_with_one_config_key_changed():
    base: Plan = planned("dev")
    head: Plan = planned("dev", (("mage-gcp:sqlTier", "db-g1-small"),))
    result = diff(snapshot(base), snapshot(head), "dev")
    assert result.config == [("mage-gcp:sqlTier", "db-f1-micro", "db-g1-small")]
    assert [(c.kind, c.name, c.keys) for c in result.changes] == [
        ("changed", "database-instance", (("settings.tier", "db-f1-micro", "db-g1-small"),))
    ]
    assert "`settings.tier` | `db-f1-micro` | `db-g1-small` |" in render(result)


def test_real_plan_without_the_ci_identity_lists_its_resources_as_removed():
    base = snapshot(planned("dev"))
    head = snapshot(planned("dev", (("mage-gcp:githubRepository", None),)))
    result = diff(base, head, "dev")
    removed = {c.name for c in result.of_kind("removed")}
    assert {"ci-pool", "ci-provider", "ci-deployer", "ci-ci-preview"} <= removed
    assert not result.of_kind("added")
    assert result.config == [("mage-gcp:githubRepository", "your-org/mage-gcp", None)]


def test_cli_compares_a_base_checkout_with_this_one(tmp_path):
    """The command CI runs: the base is this same tree, the head has one key changed."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.plan_diff",
            "--base-dir",
            str(ROOT),
            "--stack",
            "dev",
            "--set",
            "mage-gcp:sqlTier=db-g1-small",
        ],  # fmt: skip
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "0 added, 0 removed, 0 replaced, 1 changed." in result.stdout
    assert "`settings.tier` | `db-f1-micro` | `db-g1-small` |" in result.stdout


def test_cli_refuses_a_base_git_cannot_read():
    result = subprocess.run(
        [sys.executable, "-m", "tools.plan_diff", "--base", "no-such-ref-h17", "--stack", "dev"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("plan diff: git cannot read 'no-such-ref-h17'")
    assert result.stdout == ""

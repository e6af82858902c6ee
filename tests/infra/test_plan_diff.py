"""The offline plan diff (tools.plan_diff): what a pull request changes, with no credentials."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
import tomllib

from tools.offline import Plan
from tools.plan_diff import diff, render, snapshot

from mage_project.utils.image_contract import REPO_ROOT as ROOT
from tests.infra.infra_plans import planned


def _resource(type_: str, logical: str, **inputs) -> dict:
    return {"type": type_, "name": logical, "parent": "", "custom": True, "inputs": inputs}


BUCKET = "gcp:storage/bucket:Bucket"
INSTANCE = "gcp:sql/databaseInstance:DatabaseInstance"
MEMBER = "gcp:projects/iAMMember:IAMMember"


def _plan(tier: str, lake_location: str, other_bucket: str, viewer_role: str) -> dict:
    """A synthetic plan: the same stack with the values the two sides of a diff differ in."""
    return {
        "config": {"mage-gcp:sqlTier": tier, "gcp:project": "p"},
        "resources": [
            _resource(INSTANCE, "database-instance", name="mage-sql", settings={"tier": tier}),
            _resource(BUCKET, "storage-lake", name="p-mage-lake", location=lake_location),
            _resource(BUCKET, f"{other_bucket}-bucket", name=f"p-{other_bucket}", location="US"),
            _resource(MEMBER, "ci-preview-viewer", role=viewer_role, member="serviceAccount:a"),
            {"type": "mage-gcp:index:Storage", "name": "storage", "custom": False, "inputs": {}},
        ],
    }


BASE = _plan("db-f1-micro", "US", "old", "roles/viewer")
HEAD = _plan("db-g1-small", "EU", "new", "roles/browser")


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
    assert not result.of_kind("added") and not result.of_kind("removed")
    (instance,) = [c for c in result.changes if c.name == "database-instance"]
    assert instance.kind == "changed"  # a tier changes in place
    assert ("settings.tier", "db-f1-micro", "db-g1-small") in instance.keys
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
    assert "0 added, 0 removed, 0 replaced, " in result.stdout
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


# --- the plan needs only the infra group (what preview.yml and deploy.yml install) ----------


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def infra_group_closure(without: frozenset[str] = frozenset()) -> set[str]:
    """Distributions `uv sync --no-default-groups --group infra` installs, from uv.lock (every
    dependency followed, markers ignored: a superset, never smaller)."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    deps: dict[str, set[str]] = {}
    for package in lock["package"]:
        names = {_normal(d["name"]) for d in package.get("dependencies", [])}
        deps.setdefault(_normal(package["name"]), set()).update(names)
    (root,) = [p for p in lock["package"] if p["name"] == "mage-gcp"]
    todo = [_normal(d["name"]) for d in root["dev-dependencies"]["infra"]]
    seen = {"mage-gcp"}
    while todo:
        name = todo.pop()
        if name not in seen and name not in without:
            seen.add(name)
            todo += deps.get(name, ())
    return seen


def plan_with_only(closure: set[str]) -> subprocess.CompletedProcess[str]:
    """The dev plan in a child process that cannot import a module of any other distribution."""
    blocked = sorted(
        module
        for module, dists in importlib.metadata.packages_distributions().items()
        if not {_normal(d) for d in dists} & closure
    )
    code = (
        "import importlib.abc, sys\n"
        f"BLOCKED = set({blocked!r})\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] in BLOCKED:\n"
        "            raise ModuleNotFoundError(f'{name} is outside the infra group', name=name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from tools.offline import run_program\n"
        "print(len(run_program('dev').resources))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def test_the_program_imports_only_the_infra_group():
    closure = infra_group_closure()
    assert "mage-ai" not in closure and "playwright" not in closure and "pytest" not in closure
    result = plan_with_only(closure)
    assert result.returncode == 0, result.stderr[-2000:]
    assert int(result.stdout.split()[-1]) > 50


def test_a_missing_infra_dependency_is_caught():
    """Without pydantic in the group (as before it was added) the program cannot import."""
    result = plan_with_only(infra_group_closure(without=frozenset({"pydantic"})))
    assert result.returncode != 0
    assert "pydantic is outside the infra group" in result.stderr


def test_a_repeated_type_and_name_is_told_apart_by_parent_in_any_order():
    a = {**_resource(BUCKET, "b", location="US"), "parent": "urn:one"}
    b = {**_resource(BUCKET, "b", location="EU"), "parent": "urn:two"}
    base = {"config": {}, "resources": [a, b]}
    head = {"config": {}, "resources": [b, a]}  # registered the other way round
    assert diff(base, head).changes == []
    moved = {**b, "inputs": {"location": "ASIA"}}
    (change,) = diff(base, {"config": {}, "resources": [moved, a]}).changes
    assert (change.name, change.keys) == ("b (under urn:two)", (("location", "EU", "ASIA"),))

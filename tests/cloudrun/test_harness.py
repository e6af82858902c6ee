"""The harness itself, without servers: the image tree is what `docker build` would copy, the
planned env is refused when it differs beyond the substitutions, TCP startup probes are refused,
and every secret reference resolves to a generated value."""

from __future__ import annotations

from pathlib import Path

import pytest
from cloudrun.cloudsql import CloudSqlStandIn
from cloudrun.harness import (
    REPO_ROOT,
    Cloud,
    ContractError,
    Image,
    Instance,
    PlannedSecrets,
    planned_containers,
    wait_for_startup_probe,
)
from infra_plans import mutated
from tools.offline import Plan

SERVICE = "gcp:cloudrunv2/service:Service"
TWIN_URLS = {
    "gcs": "http://127.0.0.1:1",
    "bigquery": "http://127.0.0.1:2",
    "files": "http://127.0.0.1:3",
}


def offline_cloud(plan: Plan) -> Cloud:
    return Cloud(
        plan, PlannedSecrets(plan), CloudSqlStandIn(Path("/nonexistent"), port=15432), TWIN_URLS
    )


def with_container(plan: Plan, change) -> Plan:
    def edit(inputs):
        change(inputs["template"]["containers"][0])

    return Plan(plan.stack, plan.config, mutated(plan.resources, SERVICE, edit), plan.outputs)


def test_image_is_user_10001_in_home_src():
    image = Image.from_dockerfile()
    assert (image.uid, image.gid, image.workdir) == (10001, 10001, "/home/src")
    assert image.user_home == "/home/mage" and image.env["MAGE_DATA_DIR"] == "/home/src/mage_data"


def test_image_tree_is_what_docker_build_copies(tmp_path):
    """/home/src holds the project and the runner, each exactly its repository folder minus
    what .dockerignore drops; the runner lives beside the project, not in it, so the dev
    project volume mounted over /home/src/mage_project never shadows it (docs/hosted-ui.md)."""
    image = Image.from_dockerfile()
    home = image.build_home(tmp_path)
    files = {str(p.relative_to(home)) for p in home.rglob("*") if p.is_file()}
    assert "src/mage_project/metadata.yaml" in files and "src/mage_runner/cli.py" in files
    assert not [f for f in files if "__pycache__" in f or ".file_versions" in f]
    for package, source in (
        ("mage_project", "mage_project"),
        ("mage_runner", "scripts/mage_runner"),
    ):
        expected = {
            str(p.relative_to(REPO_ROOT / source))
            for p in (REPO_ROOT / source).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and not p.name.endswith(".pyc")
            and not {".file_versions", ".cache", "mage_data"} & set(p.parts)
        }  # fmt: skip
        copied = {
            f.removeprefix(f"src/{package}/") for f in files if f.startswith(f"src/{package}/")
        }
        assert copied == expected, package
    assert all(f.startswith(("src/mage_project/", "src/mage_runner/")) for f in files), files
    for path in ["src", "src/mage_data", "mage"]:
        assert (home / path).stat().st_uid == image.uid, f"/home/{path} is not the user's"
    for path in ["src/mage_project", "src/mage_project/metadata.yaml", "src/mage_runner/cli.py"]:
        assert (home / path).stat().st_uid != image.uid, f"the user can change /home/{path}"


def test_dockerignore_follows_dockers_rules(tmp_path):
    """Docker's rules (not gitignore's): patterns are anchored at the context root, the last
    matching line wins, ``!`` re-includes, ``**`` spans directories."""
    (tmp_path / "Dockerfile").write_text(
        "FROM scratch\nCOPY --chown=10001:10001 app/ /home/src/app/\nUSER 10001:10001\n"
        "WORKDIR /home/src\n"
    )
    (tmp_path / ".dockerignore").write_text("*\n!app/\napp/secret.txt\n**/*.pyc\n!app/keep.pyc\n")
    for name in [
        "app/a.py",
        "app/secret.txt",
        "app/x/b.pyc",
        "app/keep.pyc",
        "app/x/secret.txt",
        "other.py",
    ]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    image = Image.from_dockerfile(tmp_path / "Dockerfile")
    home = image.build_home(tmp_path / "out", context=tmp_path)
    got = {
        str(p.relative_to(home / "src/app")) for p in (home / "src/app").rglob("*") if p.is_file()
    }
    assert got == {"a.py", "keep.pyc", "x/secret.txt"}


def test_every_secret_reference_resolves_to_a_generated_value(stack_plan):
    secrets = PlannedSecrets(stack_plan)
    for name, container in planned_containers(stack_plan).items():
        assert container.secret_env, f"{name} reads no secret"
        for variable, secret_id in container.secret_env.items():
            value = secrets.value(secret_id)
            assert value and "mock-password" not in value, f"{name}: {variable} unresolved"
    passwords = stack_plan.of_type("random:index/randomPassword:RandomPassword")
    for resource in passwords:
        assert len(secrets.generated[f"mock-password-{resource.name}"]) == resource.get("length")


@pytest.mark.parametrize(
    ("variable", "value"),
    [("POSTGRES_HOST", "localhost"), ("POSTGRES_PORT", "6432")],
)
def test_a_planned_value_the_substitutions_do_not_expect_is_refused(dev_plan, variable, value):
    def change(container):
        for env in container["envs"]:
            if env["name"] == variable:
                env["value"] = value

    plan = with_container(dev_plan, change)
    image = Image.from_dockerfile()
    with pytest.raises(ContractError, match=variable):
        Instance(offline_cloud(plan), planned_containers(plan)["ui"], "service", image, Path("/x"))


def test_a_tcp_startup_probe_is_refused(dev_plan):
    def change(container):
        container["startupProbe"] = {"tcpSocket": {"port": 6789}, "periodSeconds": 10}

    plan = with_container(dev_plan, change)
    container = planned_containers(plan)["ui"]
    instance = Instance(
        offline_cloud(plan), container, "service", Image.from_dockerfile(), Path("/x")
    )
    with pytest.raises(ContractError, match="tcpSocket startup probe"):
        wait_for_startup_probe(instance)

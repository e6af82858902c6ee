"""What each CI identity can do, derived from the plan: who may obtain it (the WIF provider's
attribute condition, evaluated on GitHub tokens) and every grant it holds (docs/ci.md's table
is checked against the same derivation)."""

from __future__ import annotations

import copy
import re

import pytest
from tools.offline import Plan, PlannedResource

from infra.components.ci_identity import stack_bucket_prefix
from mage_project.utils.image_contract import REPO_ROOT as ROOT
from tests.infra.infra_plans import planned

DOCS = ROOT / "docs" / "ci.md"
PROVIDER = "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider"
SA_MEMBER = "gcp:serviceaccount/iAMMember:IAMMember"
REPO, REPO_ID = "your-org/mage-gcp", "123456789"  # Pulumi.dev.yaml
PROJECT, PREFIX = "my-mage-dev", "mage"
ACCOUNTS = {"deployer": "mage-deployer", "preview": "mage-ci-preview"}

# What each role a preview holds may do, from Google's reference
# (https://cloud.google.com/iam/docs/roles-permissions/storage). A role missing here fails the
# test: add its permissions from the reference before granting it to a preview.
PREVIEW_ROLE_PERMISSIONS = {
    "roles/storage.objectViewer": {
        "resourcemanager.projects.get",
        "resourcemanager.projects.list",
        "storage.folders.get",
        "storage.folders.list",
        "storage.managedFolders.get",
        "storage.managedFolders.list",
        "storage.objects.get",
        "storage.objects.list",
    },
    "roles/storage.legacyBucketReader": {"storage.buckets.get", "storage.objects.list"},
    "roles/storage.objectUser": {
        "resourcemanager.projects.get",
        "resourcemanager.projects.list",
        "storage.folders.create",
        "storage.folders.delete",
        "storage.folders.get",
        "storage.folders.list",
        "storage.folders.rename",
        "storage.managedFolders.create",
        "storage.managedFolders.delete",
        "storage.managedFolders.get",
        "storage.managedFolders.list",
        "storage.multipartUploads.abort",
        "storage.multipartUploads.create",
        "storage.multipartUploads.list",
        "storage.multipartUploads.listParts",
        "storage.objects.create",
        "storage.objects.delete",
        "storage.objects.get",
        "storage.objects.list",
        "storage.objects.restore",
        "storage.objects.update",
    },
}
# Reading a secret's value or a table's rows.
DATA_READS = {
    "secretmanager.versions.access",
    "bigquery.tables.getData",
    "bigquery.tables.export",
    "bigquery.readsessions.create",
}


# --- who may obtain an identity -------------------------------------------------------------


def accepts(condition: str, claims: dict[str, str]) -> bool:
    """The provider's CEL condition on a token's claims. The condition uses only
    ``assertion.<claim> == '<literal>'``, ``&&``, ``||`` and parentheses (checked), so it maps
    onto Python; a missing claim equals nothing, as a CEL error rejects the token."""
    rest = re.sub(r"assertion\.\w+ == '[^']*'|&&|\|\||[()\s]", "", condition)
    assert rest == "", f"the condition uses more than this evaluator knows: {rest!r}"
    absent = object()
    expression = re.sub(r"assertion\.(\w+)", r"claim('\1')", condition)
    expression = expression.replace("&&", " and ").replace("||", " or ")
    namespace = {"claim": lambda name: claims.get(name, absent)}
    return bool(eval(expression, {"__builtins__": {}}, namespace))  # noqa: S307 (checked above)


def impersonable(plan: Plan, claims: dict[str, str]) -> set[str]:
    """The service accounts a token with these claims can impersonate."""
    provider = plan.one(PROVIDER)
    if not accepts(provider.inputs["attributeCondition"], claims):
        return set()
    subject = provider.inputs["attributeMapping"]["google.subject"]
    assert subject == "assertion.sub"
    return {
        r.inputs["serviceAccountId"].rsplit("/", 1)[-1].split("@")[0]
        for r in plan.of_type(SA_MEMBER)
        if r.inputs["role"] == "roles/iam.workloadIdentityUser"
        and r.inputs["member"].endswith(f"/subject/{claims['sub']}")
    }


def token(sub: str, **claims: str) -> dict[str, str]:
    """A GitHub OIDC token's claims (https://docs.github.com/en/actions/reference/security/oidc)."""
    return {"repository": REPO, "repository_id": REPO_ID, "sub": f"repo:{REPO}:{sub}", **claims}


PR_REF = "refs/pull/7/merge"
TOKENS = {
    # A pull request's job, its workflow edited to print the state: no environment, no identity.
    "pull request, no environment": (
        token("pull_request", event_name="pull_request", ref=PR_REF),
        set(),
    ),
    # The same job naming `environment: preview` gets a token only once a reviewer approved.
    "pull request, preview environment approved": (
        token("environment:preview", environment="preview", event_name="pull_request", ref=PR_REF),
        {ACCOUNTS["preview"]},
    ),
    # A subject that names the environment is not enough: the environment claim must say it.
    "preview subject without the environment claim": (
        token("environment:preview", event_name="pull_request", ref=PR_REF),
        set(),
    ),
    "pull request naming production": (
        token("environment:production", environment="production", ref=PR_REF),
        set(),
    ),
    "main in production": (
        token("environment:production", environment="production", ref="refs/heads/main"),
        {ACCOUNTS["deployer"]},
    ),
    "another branch in production": (
        token("environment:production", environment="production", ref="refs/heads/x"),
        set(),
    ),
    "a repository re-created under the same name": (
        {**token("environment:preview", environment="preview"), "repository_id": "42"},
        set(),
    ),
    "a fork in its own preview environment": (
        {
            **token("environment:preview", environment="preview"),
            "repository": "someone/mage-gcp",
            "sub": "repo:someone/mage-gcp:environment:preview",
        },
        set(),
    ),
}


@pytest.mark.parametrize("case", TOKENS, ids=list(TOKENS))
def test_who_may_obtain_each_identity(dev_plan: Plan, case: str):
    claims, expected = TOKENS[case]
    assert impersonable(dev_plan, claims) == expected


def test_the_old_condition_gave_any_pull_request_the_preview_identity(dev_plan: Plan):
    """The evaluator tells the old condition (pull_request subject, no environment) apart."""
    old = (
        f"assertion.repository_id == '{REPO_ID}' && assertion.repository == '{REPO}' "
        f"&& ((assertion.sub == 'repo:{REPO}:environment:production' "
        "&& assertion.ref == 'refs/heads/main') "
        f"|| assertion.sub == 'repo:{REPO}:pull_request')"
    )
    assert accepts(old, TOKENS["pull request, no environment"][0])
    new = dev_plan.one(PROVIDER).inputs["attributeCondition"]
    assert not accepts(new, TOKENS["pull request, no environment"][0])


# --- what each identity can do --------------------------------------------------------------


def _email(key: str, project: str = PROJECT) -> str:
    return f"{ACCOUNTS[key]}@{project}.iam.gserviceaccount.com"


def _scope(r: PlannedResource) -> str:
    i = r.inputs
    if r.type == "gcp:projects/iAMMember:IAMMember":
        return "project"
    if "bucket" in i:
        return f"bucket `{i['bucket']}`"
    if "serviceAccountId" in i:
        return f"service account `{i['serviceAccountId'].rsplit('/', 1)[-1].split('@')[0]}`"
    for key, label in (("secretId", "secret"), ("datasetId", "dataset"), ("tableId", "table")):
        if key in i:
            return f"{label} `{i[key]}`"
    return f"{r.type} `{r.name}`"


def grants(plan: Plan, key: str) -> list[tuple[str, str, str]]:
    """(scope, role, condition) of every planned resource that names the account as a member:
    any IAM member, binding, dataset access entry, wherever it is."""
    email = _email(key, plan.config["gcp:project"])
    found = []
    for r in plan.resources:
        if r.type == "gcp:serviceaccount/account:Account" or not r.custom:
            continue
        if email not in str(r.inputs) or "principal://" in str(r.inputs.get("member", "")):
            continue
        condition = r.inputs.get("condition") or {}
        role = r.inputs.get("role") or "?"
        found.append((_scope(r), role, condition.get("expression", "")))
    return sorted(found)


def test_preview_holds_no_project_role_and_reads_only_the_state_bucket(dev_plan: Plan):
    held = grants(dev_plan, "preview")
    assert held, "the plan grants the preview account nothing: the derivation is broken"
    assert {scope for scope, _, _ in held} == {f"bucket `{PROJECT}-pulumi-state`"}


def _data_reads(held: list[tuple[str, str, str]]) -> list[str]:
    problems = []
    for scope, role, _ in held:
        if scope == "project":
            # A project role makes its holder a reader of every dataset with the default
            # projectReaders entry (https://cloud.google.com/bigquery/docs/control-access-to-resources-iam).
            problems.append(f"{role} on the project")
        if role not in PREVIEW_ROLE_PERMISSIONS:
            problems.append(f"{role} on {scope}: permissions unknown to this test")
        elif PREVIEW_ROLE_PERMISSIONS[role] & DATA_READS:
            problems.append(f"{role} on {scope} reads data")
    return problems


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_preview_cannot_read_a_secret_value_or_a_table(stack: str):
    assert _data_reads(grants(planned(stack), "preview")) == []


def test_the_data_read_check_catches_project_viewer(dev_plan: Plan):
    """A preview with project Viewer again (the old grant) is caught."""
    viewer = PlannedResource(
        "gcp:projects/iAMMember:IAMMember",
        "ci-preview-viewer",
        {
            "project": PROJECT,
            "role": "roles/viewer",
            "member": f"serviceAccount:{_email('preview')}",
        },
    )
    plan = copy.copy(dev_plan)
    plan.resources = [*dev_plan.resources, viewer]
    assert _data_reads(grants(plan, "preview")) == [
        "roles/viewer on the project",
        "roles/viewer on project: permissions unknown to this test",
    ]


def test_deployer_storage_admin_reaches_exactly_the_stacks_buckets(stack_plan: Plan):
    project = stack_plan.config["gcp:project"]
    prefix = stack_bucket_prefix(project, PREFIX)
    buckets = {b.inputs["name"] for b in stack_plan.of_type("gcp:storage/bucket:Bucket")}
    assert buckets and all(b.startswith(prefix) for b in buckets)
    held = grants(stack_plan, "deployer")
    (storage,) = [(s, c) for s, role, c in held if role == "roles/storage.admin"]
    assert storage == (
        "project",
        "!resource.type.startsWith('storage.googleapis.com/') "
        f"|| resource.name.startsWith('projects/_/buckets/{prefix}')",
    )
    state = f"{project}-pulumi-state"
    assert not state.startswith(prefix)  # so the state needs its own grant:
    assert (f"bucket `{state}`", "roles/storage.objectAdmin", "") in held
    assert "roles/bigquery.admin" not in {role for _, role, _ in held}


# --- docs/ci.md states exactly this ---------------------------------------------------------


def grants_table(plan: Plan) -> str:
    """The markdown table docs/ci.md carries, with the dev stack's names made generic."""
    project = plan.config["gcp:project"]

    def generic(text: str) -> str:
        text = text.replace(f"{project}-{PREFIX}-", "<project>-<prefix>-")
        text = text.replace(project, "<project>")
        return re.sub(rf"`{PREFIX}-", "`<prefix>-", text)

    rows = ["| identity | on | role | condition |", "|---|---|---|---|"]
    for key in ("preview", "deployer"):
        for scope, role, condition in grants(plan, key):
            cond = f"`{generic(condition)}`".replace("|", "\\|") if condition else "—"
            rows.append(f"| `<prefix>-{ACCOUNTS[key].split('-', 1)[1]}` | {generic(scope)} "
                        f"| `{role}` | {cond} |")  # fmt: skip
    return "\n".join(rows) + "\n"


def test_docs_state_exactly_the_planned_grants(dev_plan: Plan):
    text = DOCS.read_text()
    block = re.search(r"<!-- grants:begin -->\n(.*?)<!-- grants:end -->", text, re.S)
    assert block, "docs/ci.md has no <!-- grants:begin --> ... <!-- grants:end --> block"
    expected = grants_table(dev_plan)
    assert block[1] == expected, f"replace docs/ci.md's grants table with:\n{expected}"


def test_docs_name_the_environment_each_identity_needs(dev_plan: Plan):
    text = DOCS.read_text()
    condition = dev_plan.one(PROVIDER).inputs["attributeCondition"]
    for environment in ("preview", "production"):
        assert f"assertion.environment == '{environment}'" in condition
        assert f"`repo:<owner>/<name>:environment:{environment}`" in text

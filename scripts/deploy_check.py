"""Check what `make deploy` (`pulumi up`) needs before it starts, and say in one sentence what is
missing: the Pulumi CLI, uv (Pulumi.yaml runs the program with `toolchain: uv`; `make setup`
puts one in .venv-uv/bin, which `make deploy` puts first on PATH), gcloud Application Default
Credentials, Docker with buildx and a running daemon, a stack config whose example placeholders
were replaced, and -- read from the project with those credentials -- no organization policy
that would refuse what the stack creates (one sentence per refused policy, naming the config key
that avoids it where one does).

  .venv/bin/python scripts/deploy_check.py --stack dev     # exit 0 when everything is there
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
#: The uv `make setup` installs when the machine has none (scripts/setup.sh).
SETUP_UV_DIR = ROOT / ".venv-uv" / "bin"
# The example values committed in Pulumi.<stack>.yaml, which must be replaced before a deploy.
PLACEHOLDERS = (
    re.compile(r"^my-mage-[a-z]+$"),
    re.compile(r"@example\.com$"),
    re.compile(r"^your-org/"),
    re.compile(r"^123456789$"),  # mage-gcp:githubRepositoryId
)
PROBE_SECONDS = 20


def _values(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for value in node.values():
            yield from _values(value)
    elif isinstance(node, list):
        for value in node:
            yield from _values(value)
    elif isinstance(node, str):
        yield node


def placeholders(stack_file: Path) -> list[str]:
    """The example values still in a stack config, in file order, once each."""
    config = (yaml.safe_load(stack_file.read_text()) or {}).get("config") or {}
    found: list[str] = []
    for value in _values(config):
        bare = (
            value.split(":", 1)[1] if re.match(r"^(user|group|serviceAccount):", value) else value
        )
        if any(p.search(bare) for p in PLACEHOLDERS) and value not in found:
            found.append(value)
    return found


def adc_file() -> Path | None:
    """Where gcloud's Application Default Credentials are, if anywhere."""
    explicit = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if explicit:
        return Path(explicit) if Path(explicit).is_file() else None
    config = Path(os.environ.get("CLOUDSDK_CONFIG") or Path.home() / ".config" / "gcloud")
    path = config / "application_default_credentials.json"
    return path if path.is_file() else None


def _runs(*command: str) -> bool:
    try:
        done = subprocess.run(command, capture_output=True, timeout=PROBE_SECONDS, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def docker_problem() -> str | None:
    if shutil.which("docker") is None:
        return "Docker is not installed (`pulumi up` builds the image with buildx: install Docker Engine or Desktop)"
    if not _runs("docker", "buildx", "version"):
        return "Docker has no buildx plugin (install docker-buildx-plugin)"
    if not _runs("docker", "info"):
        return "the Docker daemon is not running or not reachable (start Docker, or add yourself to the docker group)"
    return None


def uv_path() -> str | None:
    """The uv `pulumi up` will run: .venv-uv/bin's (first on PATH under `make deploy`) or PATH's."""
    search = os.pathsep.join([str(SETUP_UV_DIR), os.environ.get("PATH", "")])
    return shutil.which("uv", path=search)


def problems(stack: str, stack_file: Path | None = None) -> list[str]:
    """Everything missing for `pulumi up --stack <stack>`, as sentence fragments."""
    found = []
    if shutil.which("pulumi") is None:
        found.append(
            "the Pulumi CLI is not installed (`curl -fsSL https://get.pulumi.com | sh`, "
            "then open a new shell)"
        )
    if uv_path() is None:
        found.append(
            "uv is not on PATH (run `make setup`, which installs it into .venv-uv/bin; "
            "Pulumi.yaml runs the program with uv)"
        )
    if adc_file() is None:
        found.append(
            "there are no Application Default Credentials "
            "(run `gcloud auth application-default login`)"
        )
    if (docker := docker_problem()) is not None:
        found.append(docker)
    stack_file = stack_file or ROOT / f"Pulumi.{stack}.yaml"
    if not stack_file.is_file():
        found.append(f"{stack_file.name} does not exist (copy Pulumi.dev.yaml and edit it)")
    elif values := placeholders(stack_file):
        found.append(
            f"{stack_file.name} still has the example values {', '.join(values)} "
            "(replace them with your project, e-mails, repository and its id)"
        )
    return found


def sentence(stack: str, found: list[str]) -> str:
    listed = found[0] if len(found) == 1 else "; ".join(found[:-1]) + "; and " + found[-1]
    return f"make deploy STACK={stack} cannot start: {listed}. See docs/deploy.md."


# --- Organization policies -----------------------------------------------------------------
ORG_POLICY_API = "https://orgpolicy.googleapis.com/v2"
_MULTI_REGION = {"us": "us-", "eu": "europe-", "asia": "asia-"}


def _rules(policy: dict) -> list[dict]:
    return list(((policy or {}).get("spec") or {}).get("rules") or [])


def list_allows(policy: dict, matches) -> bool:
    """Whether an effective list policy (Org Policy v2 ``spec.rules``) allows a value, given
    ``matches(policy_value) -> bool`` for the value (``is:`` prefixes are stripped first)."""
    rules = _rules(policy)
    if not rules:
        return True  # not set anywhere: the constraint's default, which allows everything

    def hit(values: list[str]) -> bool:
        return any(matches(v.removeprefix("is:")) for v in values)

    allowed = False
    for rule in rules:
        if rule.get("denyAll"):
            return False
        values = rule.get("values") or {}
        if hit(values.get("deniedValues") or []):
            return False
        listed = values.get("allowedValues") or []
        # allowAll, a listed value, or a rule that only denies (all else allowed)
        if rule.get("allowAll") or hit(listed) or not listed:
            allowed = True
    return allowed


def location_matcher(location: str):
    """``gcp.resourceLocations`` values that admit ``location``: the location itself, its value
    group ``in:<location>-locations``, or a multi-region group such as ``in:us-locations``
    (https://cloud.google.com/resource-manager/docs/organization-policy/defining-locations)."""

    def matches(value: str) -> bool:
        value = value.removeprefix("in:")
        if value in (location, f"{location}-locations"):
            return True
        group = value.removesuffix("-locations")
        return location != "global" and location.startswith(_MULTI_REGION.get(group, "\0"))

    return matches


def org_policy_refusals(config: dict, fetch) -> list[str]:
    """One sentence per organization policy that would refuse what the stack creates;
    ``fetch(constraint)`` returns the project's effective policy (Org Policy v2 JSON)."""
    from infra.config import KEYS, ui_settings  # decoded and defaulted in one place

    region = str(config.get("gcp:region") or KEYS["gcp:region"].default)
    found = []
    domains = fetch("iam.allowedPolicyMemberDomains")
    if ui_settings(config).public and not list_allows(domains, lambda v: False):
        found.append(
            "iam.allowedPolicyMemberDomains refuses allUsers, which mage-gcp:uiAccess public "
            "grants the UI: set mage-gcp:uiAccess to iap or authenticated"
        )
    if not list_allows(fetch("run.allowedIngress"), lambda v: v == "all"):
        found.append(
            "run.allowedIngress refuses ingress 'all', which the UI service needs for its "
            "run.app URL in every mage-gcp:uiAccess mode: ask your organization admin to allow "
            "'all' for this project"
        )
    if not list_allows(fetch("run.allowedVPCEgress"), lambda v: v == "private-ranges-only"):
        found.append(
            "run.allowedVPCEgress refuses 'private-ranges-only', the Direct VPC egress the "
            "service and jobs use to reach Cloud SQL: ask your organization admin to allow it"
        )
    locations = fetch("gcp.resourceLocations")
    if not list_allows(locations, location_matcher(region)):
        found.append(
            f"gcp.resourceLocations refuses gcp:region {region}: set gcp:region to a region "
            "the policy allows"
        )
    bq_location = str(config.get("mage-gcp:bigqueryLocation") or region).lower()
    if bq_location != region and not list_allows(locations, location_matcher(bq_location)):
        found.append(
            f"gcp.resourceLocations refuses mage-gcp:bigqueryLocation {bq_location}: set it to "
            "an allowed location (or remove it to use gcp:region)"
        )
    if not list_allows(locations, location_matcher("global")):
        found.append(
            "gcp.resourceLocations refuses 'global', where Secret Manager keeps the stack's "
            "secrets (automatic replication is created only where global is allowed: "
            "https://cloud.google.com/secret-manager/docs/choosing-replication), and no config "
            "key changes that: ask your organization admin to allow global for this project"
        )
    if not list_allows(fetch("compute.restrictVpcPeering"), lambda v: False):
        found.append(
            "compute.restrictVpcPeering restricts VPC peering, and Cloud SQL's private IP needs "
            "the Service Networking peering (no config key avoids it): ask your organization "
            "admin to allow peering for this project's network"
        )
    if config.get("mage-gcp:githubRepository") and not list_allows(
        fetch("iam.workloadIdentityPoolProviders"),
        lambda v: v.rstrip("/") == "https://token.actions.githubusercontent.com",
    ):
        found.append(
            "iam.workloadIdentityPoolProviders refuses GitHub's OIDC issuer, which the CI "
            "identity trusts: remove mage-gcp:githubRepository (no CI identity) or ask your "
            "organization admin to allow https://token.actions.githubusercontent.com"
        )
    return found


def effective_policy_reader(project: str):
    """``fetch(constraint)`` over the Org Policy API with Application Default Credentials
    (https://cloud.google.com/resource-manager/docs/reference/orgpolicy/rest/v2/projects.policies/getEffectivePolicy)."""
    import google.auth
    from google.auth.transport.requests import AuthorizedSession

    credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    session = AuthorizedSession(credentials)

    def fetch(constraint: str) -> dict:
        url = f"{ORG_POLICY_API}/projects/{project}/policies/{constraint}:getEffectivePolicy"
        response = session.get(url, timeout=PROBE_SECONDS)
        if response.status_code == 404:
            return {}  # never set: the constraint's default
        response.raise_for_status()
        return response.json()

    return fetch


def org_policy_check(stack_file: Path, fetch=None) -> tuple[list[str], str | None]:
    """(refusals, note): what the project's organization policies would refuse, or a note
    saying why they could not be read (the deploy may still work; the check is skipped)."""
    config = (yaml.safe_load(stack_file.read_text()) or {}).get("config") or {}
    project = str(config.get("gcp:project") or "")
    try:
        fetch = fetch or effective_policy_reader(project)
        return org_policy_refusals(config, fetch), None
    except Exception as error:  # noqa: BLE001 - credentials, network, API: one note
        return [], (
            f"note: the organization policies of {project} could not be read "
            f"({type(error).__name__}: {str(error)[:160]}), so they were not checked."
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="dev", help="the Pulumi stack (default: dev)")
    parser.add_argument(
        "--config", type=Path, help="the stack config file (default: Pulumi.<stack>.yaml)"
    )
    parser.add_argument(
        "--no-org-policies",
        action="store_true",
        help="do not read the project's organization policies",
    )
    args = parser.parse_args(argv)
    found = problems(args.stack, args.config)
    if found:
        print(sentence(args.stack, found), file=sys.stderr)
        return 1
    if not args.no_org_policies:
        refused, note = org_policy_check(args.config or ROOT / f"Pulumi.{args.stack}.yaml")
        if note:
            print(note)
        if refused:
            for reason in refused:
                print(
                    f"make deploy STACK={args.stack} would be refused: {reason}.", file=sys.stderr
                )
            return 1
    print(f"deploy prerequisites for stack {args.stack}: all present.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

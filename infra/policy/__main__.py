"""CrossGuard policy pack: `pulumi preview --policy-pack infra/policy` enforces the stack's
security invariants (the one rule set, policy_rules.py) before anything reaches Google Cloud."""

import sys
from pathlib import Path

# Pulumi runs this file by path, in the pack's own virtualenv (PulumiPolicy.yaml), where the
# project is not installed: the repository root lets the rules load under their one name,
# infra.policy.policy_rules, as in the program and the tests.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.append(_ROOT)

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

from infra.policy.policy_pack import PACK_NAME, build_policies  # noqa: E402

PolicyPack(
    name=PACK_NAME,
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=build_policies(),
)

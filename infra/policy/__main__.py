"""CrossGuard policy pack: `pulumi preview --policy-pack infra/policy` enforces the stack's
security invariants (the one rule set, policy_rules.py) before anything reaches Google Cloud."""

from policy_pack import PACK_NAME, build_policies
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(
    name=PACK_NAME,
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=build_policies(),
)

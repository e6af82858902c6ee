"""The invariants of `policy_rules` as CrossGuard ResourceValidationPolicy objects."""

from __future__ import annotations

from policy_rules import RULES, Rule
from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

PACK_NAME = "mage-gcp-security"


def _validator(rule: Rule):
    """Adapt a plain rule to the SDK's `validate(args, report_violation)` callback."""

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in rule(args.resource_type, args.props):
            report_violation(message, None)

    return validate


def build_policies() -> list[ResourceValidationPolicy]:
    """One mandatory policy per rule, named after it, described by its docstring."""
    return [
        ResourceValidationPolicy(
            name=name,
            description=(rule.__doc__ or name).strip().splitlines()[0],
            validate=_validator(rule),
            enforcement_level=EnforcementLevel.MANDATORY,
        )
        for name, rule in RULES.items()
    ]

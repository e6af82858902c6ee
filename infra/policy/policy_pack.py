"""The rules of `policy_rules` as CrossGuard policies: one per rule, all mandatory."""

from __future__ import annotations

from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from infra.policy.policy_rules import RULE_CONFIG, RULES, STACK_RULES, StackRule

PACK_NAME = "mage-gcp-security"


def _validator(name: str):
    """Adapt a resource rule to the SDK's `validate(args, report_violation)` callback."""
    rule = RULES[name]
    config = RULE_CONFIG.get(name)

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        kwargs = {config[1]: bool(args.get_config().get(config[0], False))} if config else {}
        for message in rule(args.resource_type, args.props, **kwargs):
            report_violation(message, None)

    return validate


def _stack_validator(rule: StackRule):
    """Adapt a stack rule to the SDK's stack `validate(args, report_violation)` callback."""

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [(r.resource_type, r.name, r.props) for r in args.resources]
        for message in rule(resources):
            report_violation(message, None)

    return validate


def _description(rule) -> str:
    return (rule.__doc__ or "").strip().splitlines()[0]


def _config_schema(name: str) -> PolicyConfigSchema | None:
    if name not in RULE_CONFIG:
        return None
    key = RULE_CONFIG[name][0]
    return PolicyConfigSchema(properties={key: {"type": "boolean", "default": False}})


def build_policies() -> list[ResourceValidationPolicy | StackValidationPolicy]:
    """One mandatory policy per rule, named after it, described by its docstring."""

    def policy(kind: type, name: str, rule: Any, validate: Any, **extra: Any):
        return kind(
            name=name,
            description=_description(rule),
            validate=validate,
            enforcement_level=EnforcementLevel.MANDATORY,
            **extra,
        )

    resource = [
        policy(ResourceValidationPolicy, n, r, _validator(n), config_schema=_config_schema(n))
        for n, r in RULES.items()
    ]
    stack = [
        policy(StackValidationPolicy, n, r, _stack_validator(r)) for n, r in STACK_RULES.items()
    ]
    return [*resource, *stack]

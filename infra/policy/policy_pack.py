"""The rules of `policy_rules` as CrossGuard policies: one per rule, all mandatory.

A rule's argument (``allow_public_ui``) comes from the stack's own config, derived once in
infra/config.py (``policy_flags``): the pack reads ``Pulumi.<stack>.yaml`` of the checkout it runs
from (Pulumi names the stack in ``PULUMI_STACK``). The pack config key (``allowPublicUi``, e.g.
``pulumi preview --policy-pack-config``) still overrides it.
"""

from __future__ import annotations

import os
from functools import cache
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
from mage_project.utils.image_contract import REPO_ROOT

PACK_NAME = "mage-gcp-security"


@cache
def stack_flags(stack: str | None = None) -> dict[str, bool]:
    """The rule arguments the stack's config derives (``infra.config.policy_flags``); none (the
    strict defaults) when no stack is named or its file does not parse."""
    stack = stack or os.environ.get("PULUMI_STACK")
    path = REPO_ROOT / f"Pulumi.{stack}.yaml"
    if not stack or not path.is_file():
        return {}
    try:
        from infra.config import load, policy_flags

        return policy_flags(load(path))
    except (ImportError, ValueError):  # ConfigError is a ValueError
        return {}


def _validator(name: str):
    """Adapt a resource rule to the SDK's `validate(args, report_violation)` callback."""
    rule = RULES[name]
    config = RULE_CONFIG.get(name)

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        kwargs = {}
        if config:
            key, flag = config
            given = args.get_config().get(key)
            kwargs[flag] = bool(stack_flags().get(flag, False) if given is None else given)
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
    return PolicyConfigSchema(properties={key: {"type": "boolean"}})


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

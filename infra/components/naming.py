"""Logical names keyed by what a resource is, never by its position in a list."""

from __future__ import annotations

import re

import pulumi


def slug(value: str) -> str:
    """A stable logical-name fragment for a member or e-mail: ``user:a.b@x.com`` → ``user-a-b-x-com``.

    Removing one member of a list then replaces that member's resource only."""
    return re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")


def keyed(prefix: str, values: list[str]) -> dict[str, str]:
    """``{logical name: value}`` with names ``<prefix>-<slug>``; one sentence if two collide."""
    names: dict[str, str] = {}
    for value in values:
        name = f"{prefix}-{slug(value)}"
        if name in names:
            raise ValueError(
                f"{names[name]!r} and {value!r} give the same resource name {name}; list each once."
            )
        names[name] = value
    return names


def formerly(opts: pulumi.ResourceOptions, old_name: str) -> pulumi.ResourceOptions:
    """``opts`` plus an alias, so a stack adopts the resource it made under its former positional
    name (``...-0``) instead of replacing it."""
    return pulumi.ResourceOptions.merge(
        opts, pulumi.ResourceOptions(aliases=[pulumi.Alias(name=old_name)])
    )

"""The shape every mage-gcp component shares, written once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import pulumi

R = TypeVar("R")


class Component(pulumi.ComponentResource):
    """A component of the stack: type token ``mage-gcp:<area>:<Class>``; ``build`` creates the
    children (each with ``opts=self.child``, so parented to it and after what the component
    depends on) and returns its outputs.

    ``class Network(Component, area="network")`` with ``def build(self, name, args)``."""

    area: ClassVar[str] = ""

    def __init_subclass__(cls, area: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.area = area

    def __init__(self, name: str, args: Any, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"mage-gcp:{self.area}:{type(self).__name__}", name, None, opts)
        # A component's depends_on does not hold back its children (the engine waits only for a
        # resource's own dependencies: pulumi/pulumi#8721), so the children carry it themselves:
        # nothing of a component is created before, e.g., the APIs it needs are enabled.
        self.child = pulumi.ResourceOptions(
            parent=self, depends_on=opts.depends_on if opts else None
        )
        self.logical = name
        self.project: str | None = getattr(args, "project", None)
        self.register_outputs(self.build(name, args))

    def own(self, kind: Callable[..., R], what: str, **inputs: Any) -> R:
        """A child resource named ``<component>-<what>`` in the component's project, with
        ``opts=self.child`` (parented, after what the component depends on)."""
        return kind(f"{self.logical}-{what}", project=self.project, opts=self.child, **inputs)

    def build(self, name: str, args: Any) -> dict[str, Any]:
        """Create the children; return the outputs to register."""
        raise NotImplementedError

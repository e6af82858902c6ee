"""The shape every mage-gcp component shares, written once."""

from __future__ import annotations

from typing import Any, ClassVar

import pulumi


class Component(pulumi.ComponentResource):
    """A component of the stack: type token ``mage-gcp:<area>:<Class>``; ``build`` creates the
    children (each with ``opts=self.child``, so parented to it) and returns its outputs.

    ``class Network(Component, area="network")`` with ``def build(self, name, args)``."""

    area: ClassVar[str] = ""

    def __init_subclass__(cls, area: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.area = area

    def __init__(self, name: str, args: Any, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"mage-gcp:{self.area}:{type(self).__name__}", name, None, opts)
        self.child = pulumi.ResourceOptions(parent=self)
        self.register_outputs(self.build(name, args))

    def build(self, name: str, args: Any) -> dict[str, Any]:
        """Create the children; return the outputs to register."""
        raise NotImplementedError

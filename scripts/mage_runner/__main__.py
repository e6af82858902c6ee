"""``python -m mage_runner run|start ...`` (see the package docstring)."""

from __future__ import annotations

import sys

from mage_runner.cli import main

if __name__ == "__main__":
    sys.exit(main())

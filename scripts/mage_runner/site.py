"""Where the Mage patches live that every Mage of this project starts with: the twin's (its
supervisor puts the folder on ``PYTHONPATH``) and the image's (the Dockerfile's ``PYTHONPATH``
names /home/src/mage_runner/mage_site): ``mage_site/sitecustomize.py``."""

from __future__ import annotations

from pathlib import Path

MAGE_SITE = Path(__file__).resolve().parent / "mage_site"

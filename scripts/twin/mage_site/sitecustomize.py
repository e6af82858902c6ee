"""Loaded by every Python the twin starts for Mage (its server, the notebook's kernel, their
subprocesses: ``PYTHONPATH`` holds this folder; twin/supervisor.py).

Mage rewrites a pipeline's tracked ``metadata.yaml`` whenever a block runs in the notebook, and
writes into it the absolute ``variables_dir`` of this machine (``Pipeline.to_dict_base``), which
Mage never reads back from there (it takes the project's). Here Mage writes ``variables_dir:
null`` instead, so a run leaves the committed file byte for byte as it was: ``git status`` stays
clean. Patched when Mage imports its pipeline model, so other Pythons pay nothing.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys

_TARGET = "mage_ai.data_preparation.models.pipeline"


def _patch(module) -> None:
    original = module.Pipeline.to_dict_base

    def to_dict_base(self, *args, **kwargs):
        data = original(self, *args, **kwargs)
        data["variables_dir"] = None  # machine-specific, and Mage reads the project's
        return data

    module.Pipeline.to_dict_base = to_dict_base


class _PatchOnImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != _TARGET:
            return None
        sys.meta_path.remove(self)  # once: find the real module, patch it after it runs
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        run = spec.loader.exec_module

        def exec_module(module) -> None:
            run(module)
            _patch(module)

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, _PatchOnImport())

"""Loaded by every Python that runs Mage here and in the cloud (its server, the notebook's kernel,
their subprocesses): ``PYTHONPATH`` holds this folder (twin/supervisor.py; the Dockerfile's ENV,
mage_runner/site.py). Each patch is applied when
Mage imports the module it changes, so other Pythons pay nothing.

- Mage rewrites a pipeline's tracked ``metadata.yaml`` whenever a block runs in the notebook, and
  writes into it the absolute ``variables_dir`` of this machine (``Pipeline.to_dict_base``), which
  Mage never reads back from there (it takes the project's). Here Mage writes ``variables_dir:
  null`` instead, so a run leaves the committed file byte for byte as it was: ``git status`` stays
  clean.
- Mage's scheduler hands each block run to its ``ProcessQueue``: ``enqueue`` puts the job on a
  ``multiprocessing.Queue`` and forks a worker pool that leaves as soon as the queue looks empty.
  ``put`` only hands the job to a feeder thread, so on a loaded machine the pool can look before
  the job is in the pipe, see nothing and leave: the job waits in the queue with no pool, and
  Mage's check (``has_job``: queued and the queue not empty) keeps calling it alive, so the run
  stays "running" until some other job is enqueued (seen: 5 minutes, load 7 on 2 cores). Here
  that check also starts a pool for a queued job that has none, in the scheduler's process (the
  one whose queue is started); the scheduler makes it on every tick (``clean_up_jobs``), so such
  a job starts within one tick.
- Mage's server imports scikit-learn (two modules, for ``estimator_html_repr``) and
  memory_profiler (which imports IPython) at start, for functions it calls only when a block returns
  a model or memory is profiled: ~0.8 s of CPU in every start (the hosted UI's cold start, each
  ``mage run``). Those ``from X import f`` lines become a function that imports ``X.f`` on first
  call (``_DEFERRED``; the module's source is compiled with that one line changed).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys


def _patch_pipeline(module) -> None:
    original = module.Pipeline.to_dict_base

    def to_dict_base(self, *args, **kwargs):
        data = original(self, *args, **kwargs)
        data["variables_dir"] = None  # machine-specific, and Mage reads the project's
        return data

    module.Pipeline.to_dict_base = to_dict_base


def _patch_process_queue(module) -> None:
    queue_class = module.ProcessQueue
    original = queue_class.has_job

    def has_job(self, job_id, logger=None, logging_tags=None):
        found = original(self, job_id, logger=logger, logging_tags=logging_tags)
        if (
            found
            and self.job_dict.get(job_id) == module.JobStatus.QUEUED
            # The scheduler's process: Mage makes the queue in its server process at import and
            # forks the scheduler from it, so the queue's client_id names the server's PID; only
            # the scheduler starts the queue (an inactive queue refuses jobs), and owns the pool.
            and self.status == module.QueueStatus.ACTIVE
            and not self.is_worker_pool_alive()
        ):
            self._print(f"Job {job_id} is queued with no worker pool. Start one.")
            self.start_worker_pool()
        return found

    queue_class.has_job = has_job


#: module -> (module it imports a function from at start, that function's name)
_DEFERRED = {
    "mage_ai.data_preparation.models.utils": ("sklearn.utils", "estimator_html_repr"),
    "mage_ai.data_preparation.models.block.outputs": ("sklearn.utils", "estimator_html_repr"),
    "mage_ai.system.memory.utils": ("memory_profiler", "memory_usage"),
}


class _DeferringLoader(importlib.machinery.SourceFileLoader):
    """Compiles the module with its ``from X import f`` line replaced by a function that imports
    ``X.f`` when first called; a Mage release without that line loads unchanged."""

    def get_code(self, fullname):
        module, name = _DEFERRED[fullname]
        eager = f"from {module} import {name}\n"
        source = self.get_data(self.path).decode()
        if eager not in source:
            return super().get_code(fullname)
        lazy = (
            f"def {name}(*args, **kwargs):\n"
            f"    from {module} import {name} as _imported\n"
            "    return _imported(*args, **kwargs)\n"
        )
        return compile(source.replace(eager, lazy, 1), self.path, "exec", dont_inherit=True)


_PATCHES = {
    "mage_ai.data_preparation.models.pipeline": _patch_pipeline,
    "mage_ai.orchestration.queue.process_queue": _patch_process_queue,
}


class _PatchOnImport(importlib.abc.MetaPathFinder):
    def __init__(self) -> None:
        self.pending = dict(_PATCHES)

    def find_spec(self, name, path, target=None):
        if name in _DEFERRED:
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            if spec is not None and isinstance(spec.loader, importlib.machinery.SourceFileLoader):
                spec.loader = _DeferringLoader(name, spec.origin)
            return spec
        patch = self.pending.pop(name, None)
        if patch is None:
            return None
        # Find the real module (this finder skips it now), patch it after it runs.
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        run = spec.loader.exec_module

        def exec_module(module) -> None:
            run(module)
            patch(module)

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, _PatchOnImport())

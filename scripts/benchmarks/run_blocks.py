"""Ingest only: call a linear Mage pipeline's load → transform → export functions in one process.

No Mage start-up, scheduler or block-output serialisation: the block files are executed with
recording decorators (as Mage's executor injects its own), then the three functions are called
in order with the runtime variables as keyword arguments. Prints one JSON line:
``{"seconds": <time of the three calls>, "import_seconds": ..., "blocks": {uuid: seconds}}``
(where the time goes, block by block).

Usage: ``python scripts/benchmarks/run_blocks.py PROJECT_DIR PIPELINE [--vars JSON]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

DECORATORS = ("data_loader", "transformer", "data_exporter", "custom")
FOLDERS = {
    "data_loader": "data_loaders",
    "transformer": "transformers",
    "data_exporter": "data_exporters",
    "custom": "custom",
}


def block_order(project: Path, pipeline: str) -> list[tuple[str, str]]:
    """(type, uuid) of each block of a linear pipeline, upstream first."""
    meta_path = project / "pipelines" / pipeline / "metadata.yaml"
    if not meta_path.exists():
        raise SystemExit(f"No pipeline {pipeline!r} in {project}: {meta_path} is missing.")
    blocks = {
        b["uuid"]: b
        for b in yaml.safe_load(meta_path.read_text())["blocks"]
        if b["type"] in FOLDERS
    }
    order: list[tuple[str, str]] = []
    current = [u for u, b in blocks.items() if not b.get("upstream_blocks")]
    while current:
        if len(current) != 1:
            raise SystemExit(f"Pipeline {pipeline!r} is not a linear chain at {current}.")
        uuid = current[0]
        order.append((blocks[uuid]["type"], uuid))
        current = [d for d in blocks[uuid].get("downstream_blocks") or [] if d in blocks]
    return order


def load_block(project: Path, block_type: str, uuid: str) -> Callable[..., Any]:
    """Execute a block file with recording decorators and return its main function."""
    path = project / FOLDERS[block_type] / f"{uuid}.py"
    found: dict[str, Callable[..., Any]] = {}

    def recorder(kind: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
            found.setdefault(kind, fn)
            return fn

        return decorate

    namespace: dict[str, Any] = {k: recorder(k) for k in DECORATORS}
    namespace.update(test=lambda fn: fn, __name__=f"bench_block_{uuid}", __file__=str(path))
    exec(compile(path.read_text(), str(path), "exec"), namespace)  # noqa: S102
    if block_type not in found:
        raise SystemExit(f"{path} defines no @{block_type} function.")
    return found[block_type]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("project", type=Path)
    parser.add_argument("pipeline")
    parser.add_argument("--vars", default="{}", help="runtime variables as JSON")
    args = parser.parse_args(argv)
    project = args.project.resolve()

    from mage_ai.settings.repo import set_repo_path

    started = time.perf_counter()
    set_repo_path(str(project))
    order = block_order(project, args.pipeline)
    functions = [load_block(project, t, u) for t, u in order]
    imported = time.perf_counter()

    # as Mage's global variables: the run's date, the pipeline's uuid, the runtime variables
    base = {"execution_date": datetime.now(), "pipeline_uuid": args.pipeline}
    kwargs = {**base, **json.loads(args.vars)}
    output: Any = None
    blocks: dict[str, float] = {}
    for position, ((_, uuid), fn) in enumerate(zip(order, functions, strict=True)):
        began = time.perf_counter()
        # As Mage does: a block that returns a tuple has several outputs, and its downstream
        # block gets each as a positional argument (our blocks return (result, preview)).
        upstream = output if isinstance(output, tuple) else (output,)
        named = {**kwargs, "block_uuid": uuid}
        output = fn(**named) if position == 0 else fn(*upstream, **named)
        blocks[uuid] = round(time.perf_counter() - began, 3)
    done = time.perf_counter()
    timing = {"seconds": done - imported, "import_seconds": imported - started, "blocks": blocks}
    print(json.dumps(timing))
    return 0


if __name__ == "__main__":
    sys.exit(main())

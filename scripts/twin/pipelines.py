"""Run the Mage project's pipelines headless and report each run in one line.

Each run is a Mage pipeline run (``python -m mage_runner run``, the Cloud Run job's entrypoint
too): the twin's Mage UI lists it under its trigger or backfill, with block runs and logs.

Used by `make demo`, `make backfill` and the pipeline tests. A failed run is summarised by the
sentence our blocks raise (``TaxiDataError``), not Mage's 200-line traceback; the whole output
stays in the run's log file.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from mage_project.utils.image_contract import runner_argv
from twin.executables import mage_executable
from twin.layout import MAGE_PROJECT, REPO_ROOT

#: The project's pipelines in the order that feeds each sink before it is read.
PIPELINES = (
    "api_to_postgres",
    "api_to_gcs",
    "gcs_to_bigquery",
    "api_to_gcs_parameterized",
    "green_taxi_etl",
)
#: Mage prints the exception type before our sentence; standard tracebacks keep it on one line.
#: Ours: TaxiDataError and its subclasses (printed with their module, mage_project.utils.*).
_ERROR_LINE = re.compile(r"^(?:TaxiDataError|mage_project\.[\w.]+\.(?:\w+)): (.+)$", re.M)
_EXCEPTION = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning)?): (.+)$")
_FRAME = re.compile(r'^\s+File "([^"]+)", line (\d+)')
_FAILED_TEST = re.compile(r"^FAIL: (\w+) \(block: ([\w-]+)\)$", re.M)
#: Mage's own noise around a failed run, never the reason: its event-loop fallback, the
#: wrapper exceptions that only repeat that a block or its test failed.
_NOISE = re.compile(
    r"event loop|Failed to pass tests for block|^Exception: Pipeline run|DBT library", re.I
)
_MAGE_RUN = re.compile(r"^Mage pipeline run (\d+)", re.M)
#: A line of Mage's structured run/block logs: ``LEVEL:logger:{"message": ..., "error": ...}``.
_MAGE_LOG_LINE = re.compile(r"^[A-Z]+:[^{\s]*:(\{.*\})$", re.M)
_QUIET = {
    "PYTHONWARNINGS": "ignore",
    "_TYPER_STANDARD_TRACEBACK": "1",  # plain traceback: the error stays on one line
    "COLUMNS": "400",
}


class PipelineError(RuntimeError):
    """A pipeline name or its variables are unusable before anything runs."""


@dataclass
class RunResult:
    """The outcome of one `mage run`."""

    pipeline: str
    variables: dict[str, object]
    returncode: int
    seconds: float
    output: str = field(repr=False)
    log: Path | None = None

    @property
    def mage_run_id(self) -> int | None:
        """The id of the Mage pipeline run (as in the UI's Runs page), once it was created."""
        found = _MAGE_RUN.search(self.output)
        return int(found[1]) if found else None

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and "Pipeline run completed" in self.output

    @property
    def error(self) -> str | None:
        """One sentence saying why the run failed (None when it succeeded): our sentence, else
        the failing block test's assertion and the block's file, else the last exception
        raised in the project's code with its file and line -- never Mage's noise."""
        if self.ok:
            return None
        return summarise_failure(self.output, self.pipeline) or (
            f"The run exited with code {self.returncode}; see {self.log or 'its output'}."
        )


def _tracebacks(output: str) -> list[tuple[list[tuple[str, int]], str, str]]:
    """Every traceback in ``output``: (frames as (file, line), exception type, message)."""
    found = []
    lines = output.splitlines()
    for index, line in enumerate(lines):
        if line.strip() != "Traceback (most recent call last):":
            continue
        frames = []
        for follower in lines[index + 1 :]:
            frame = _FRAME.match(follower)
            if frame:
                frames.append((frame[1], int(frame[2])))
                continue
            if follower.startswith((" ", "\t")) or not follower.strip():
                continue
            exception = _EXCEPTION.match(follower)
            if exception:
                found.append((frames, exception[1], exception[2].strip()))
            break
    return found


def _block_file(pipeline: str, block: str) -> str:
    """The file of ``block`` in ``pipeline``, relative to the repository (from its metadata.yaml,
    whose ``file_source`` Mage writes relative to the project or, older, with its name)."""
    import yaml

    metadata = REPO_ROOT / MAGE_PROJECT / "pipelines" / pipeline / "metadata.yaml"
    try:
        for entry in yaml.safe_load(metadata.read_text()).get("blocks", []):
            if entry.get("uuid") == block:
                path = str((entry.get("configuration") or {}).get("file_source", {}).get("path"))
                project = Path(MAGE_PROJECT).name
                return path if path.startswith(f"{project}/") else f"{project}/{path}"
    except (OSError, AttributeError, yaml.YAMLError):
        pass
    return f"the block {block}"


def _unwrap_mage_logs(output: str) -> str:
    """``output`` with each of Mage's JSON log lines replaced by its message (and its error's
    traceback), as `mage run` printed them: a block test's failure and its assertion are
    logged that way by Mage's block executor."""

    def text(line: re.Match) -> str:
        try:
            record = json.loads(line[1])
        except ValueError:
            return line[0]
        if not isinstance(record, dict) or "message" not in record:
            return line[0]
        return "\n".join(str(record[k]).rstrip("\n") for k in ("message", "error") if record.get(k))

    return _MAGE_LOG_LINE.sub(text, output)


def summarise_failure(output: str, pipeline: str) -> str | None:
    """The one-line reason of a failed `mage run` (see :attr:`RunResult.error`)."""
    output = _unwrap_mage_logs(output)
    ours = _ERROR_LINE.findall(output)
    if ours:
        return ours[-1].strip()
    failed = _FAILED_TEST.search(output)
    if failed:
        section = output[failed.end() :].split("\n----", 2)
        body = "\n----".join(section[:2])
        assertion = [m for _, kind, m in _tracebacks(body) if kind.endswith("AssertionError")]
        reason = assertion[-1] if assertion else "the test failed"
        return f"Block {failed[2]} ({_block_file(pipeline, failed[2])}) failed its test {failed[1]}: {reason}"
    candidates = [t for t in _tracebacks(output) if not _NOISE.search(f"{t[1]}: {t[2]}")]
    for frames, kind, message in reversed(candidates):
        ours_frames = [f for f in frames if f"/{MAGE_PROJECT}/" in f[0]]
        if ours_frames:
            path, line = ours_frames[-1]
            relative = path.split(f"/{MAGE_PROJECT}/", 1)[1]
            return f"{kind}: {message} ({MAGE_PROJECT}/{relative}, line {line})"
    if candidates:
        _, kind, message = candidates[-1]
        return f"{kind}: {message}"
    return None


def check_pipeline(name: str, project: Path = REPO_ROOT / MAGE_PROJECT) -> None:
    """Fail with one sentence if ``name`` is not a pipeline of the project."""
    known = sorted(p.parent.name for p in (project / "pipelines").glob("*/metadata.yaml"))
    if name not in known:
        raise PipelineError(
            f"There is no pipeline {name!r} in {project.name}; use one of {', '.join(known)}."
        )


@dataclass(frozen=True)
class Backfill:
    """The Mage backfill a run belongs to (``make backfill`` makes one per invocation)."""

    name: str
    start: str
    end: str
    interval: str
    runs: int

    def args(self) -> list[str]:
        return [
            "--backfill", self.name, "--backfill-start", self.start, "--backfill-end", self.end,
            "--backfill-interval", self.interval, "--backfill-runs", str(self.runs),
        ]  # fmt: skip


def runner_command(
    pipeline: str,
    variables: dict[str, object],
    trigger: str = "cli",
    backfill: Backfill | None = None,
) -> list[str]:
    """``python -m mage_runner run mage_project <pipeline> ...`` in the project's environment."""
    python = mage_executable().parent / "python"
    command = [*runner_argv("run", str(python), MAGE_PROJECT), pipeline, "--test"]
    command += ["--runtime-vars", json.dumps(variables, default=str, sort_keys=True)]
    return command + (backfill.args() if backfill else ["--trigger", trigger])


def run_pipeline(
    pipeline: str,
    env: dict[str, str],
    variables: dict[str, object] | None = None,
    log: Path | None = None,
    timeout: float = 1800,
    trigger: str = "cli",
    backfill: Backfill | None = None,
) -> RunResult:
    """Run ``pipeline`` as a Mage pipeline run of ``trigger`` (or ``backfill``) with ``env``;
    never raises on a failed run (see :attr:`RunResult.error`)."""
    check_pipeline(pipeline)
    variables = dict(variables or {})
    command = runner_command(pipeline, variables, trigger, backfill)
    started = time.monotonic()
    try:
        proc = subprocess.run(
            command,
            env={**env, **_QUIET},
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        output, code = proc.stdout + proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as expired:
        parts = [p.decode(errors="replace") if isinstance(p, bytes) else p or "" for p in
                 (expired.stdout, expired.stderr)]  # fmt: skip
        output = "".join(parts) + f"\nTimed out after {timeout:.0f} s."
        code = -1
    result = RunResult(pipeline, variables, code, time.monotonic() - started, output, log)
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f"$ {' '.join(command)}\n{output}")
    return result

"""A pipeline as a Mage pipeline run, through Mage 0.9.80's own models and executors.

Every run gets a trigger (a ``PipelineSchedule`` of type API named after what started it, e.g.
``cloud_scheduler`` or ``make_demo``) or a ``Backfill``, a ``pipeline_run`` with its runtime
variables and execution date, one ``block_run`` per block (status, times) and logs written by
Mage's logger manager to the project's ``logging_config`` destination (GCS: readable in the UI
from any instance, after this one is gone).

Why not ``mage run --pipeline-run-id``: Mage's ``PipelineExecutor`` only executes a run whose
status is ``running`` and leaves the run's status to Mage's scheduler; and a scheduler (the
always-on UI, the twin's ``mage start``) *adopts* every ``running`` run: block runs it did not
start look crashed to it (``PipelineScheduler.__fetch_crashed_block_runs``) and it runs them a
second time. So the run stays ``initial`` under an *inactive* trigger while its blocks run here
(block runs show ``running``/``completed``/``failed`` live), and ends ``completed`` or
``failed``; no scheduler touches it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

#: Trigger names for what starts a run (the UI lists them under Triggers).
TRIGGERS = ("cloud_scheduler", "make_demo", "make_backfill", "cli")
TRIGGER_DESCRIPTION = (
    "Runs started outside Mage's scheduler by {what} (python -m mage_runner run); "
    "inactive on purpose: Cloud Scheduler or the command line starts them."
)


@dataclass
class BackfillSpec:
    """The backfill a run belongs to: created by its first run, shared by the others."""

    name: str
    start: datetime
    end: datetime
    interval: str  # "day" or "month"
    planned_runs: int


@dataclass
class Outcome:
    """What one run did (printed by the CLI, asserted by tests)."""

    pipeline_run_id: int
    status: str
    failed_block: str | None = None
    error: str | None = None
    block_statuses: dict[str, str] = field(default_factory=dict)


def _now() -> datetime:
    return datetime.now(tz=UTC)


def prepare_database(project_path: str) -> None:
    """Point Mage at the project, open its DB session and run its migrations (as `mage start`
    does: ``database_manager.run_migrations``, under Mage's migration lock)."""
    from mage_ai.settings.repo import set_repo_path

    set_repo_path(project_path)
    parent = os.path.dirname(project_path)
    if parent not in sys.path:
        sys.path.append(parent)
    from mage_ai.orchestration.db import db_connection
    from mage_ai.orchestration.db.database_manager import database_manager

    db_connection.start_session()
    database_manager.run_migrations(log_level=logging.WARNING)


def lock_key(*key: str) -> int:
    """The Postgres advisory-lock id for ``key`` (a signed 64-bit int)."""
    digest = hashlib.sha256("\0".join(("mage_runner", *key)).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _serialize(*key: str) -> None:
    """Hold a Postgres transaction lock on ``key`` until the next commit, so parallel runs
    (e.g. one Cloud Run task per backfill slice) create a trigger or backfill only once."""
    from mage_ai.orchestration.db import db_connection
    from sqlalchemy import text

    session = db_connection.session
    if session.get_bind().dialect.name != "postgresql":
        return
    session.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": lock_key(*key)})


def trigger_for(pipeline_uuid: str, name: str, project_path: str):
    """The API-type trigger ``name`` of the pipeline, created (inactive) on first use."""
    from mage_ai.data_preparation.models.triggers import ScheduleStatus, ScheduleType
    from mage_ai.orchestration.db.models.schedules import PipelineSchedule

    _serialize("trigger", pipeline_uuid, name)
    found = (
        PipelineSchedule.repo_query.filter(
            PipelineSchedule.pipeline_uuid == pipeline_uuid, PipelineSchedule.name == name
        )
        .order_by(PipelineSchedule.id)
        .first()
    )
    if found is not None:
        return found
    return PipelineSchedule.create(
        name=name,
        description=TRIGGER_DESCRIPTION.format(what=name.replace("_", " ")),
        pipeline_uuid=pipeline_uuid,
        schedule_type=ScheduleType.API,
        status=ScheduleStatus.INACTIVE,
        repo_path=project_path,
        start_time=_now(),
    )


def backfill_for(pipeline_uuid: str, spec: BackfillSpec, project_path: str):
    """Mage's ``Backfill`` named ``spec.name`` and its trigger (``Backfill <name>``, interval
    ``@once``, as Mage's backfill service makes it -- but inactive)."""
    from mage_ai.data_preparation.models.triggers import ScheduleInterval, ScheduleStatus
    from mage_ai.orchestration.db.models.schedules import Backfill, PipelineSchedule

    _serialize("backfill", pipeline_uuid, spec.name)
    found = Backfill.query.filter(
        Backfill.pipeline_uuid == pipeline_uuid, Backfill.name == spec.name
    ).first()
    if found is not None:
        return found, found.pipeline_schedule
    schedule = PipelineSchedule.create(
        name=f"Backfill {spec.name}",
        pipeline_uuid=pipeline_uuid,
        schedule_interval=ScheduleInterval.ONCE,
        status=ScheduleStatus.INACTIVE,
        repo_path=project_path,
        start_time=_now(),
    )
    backfill = Backfill.create(
        name=spec.name,
        pipeline_uuid=pipeline_uuid,
        pipeline_schedule_id=schedule.id,
        start_datetime=spec.start,
        end_datetime=spec.end,
        interval_type=Backfill.IntervalType(spec.interval),
        interval_units=1,
        status=Backfill.Status.RUNNING,
        started_at=_now(),
    )
    return backfill, schedule


def parse_day(value: Any) -> datetime:
    """Midnight UTC of an ISO date (``2021-01-15``, or a datetime string)."""
    try:
        day = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00")).date()
    except ValueError:
        raise ValueError(
            f"Runtime variable execution_date={value!r} is not a date; use YYYY-MM-DD."
        ) from None
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _sentence(error: BaseException) -> str:
    kind = type(error)
    return f"{kind.__module__}.{kind.__qualname__}: {error}"


def execute_run(pipeline, pipeline_run, requested: dict[str, Any], log) -> Outcome:
    """Run the block runs of ``pipeline_run`` in dependency order with Mage's BlockExecutor
    (it sets each block run's status and writes its log, tests included); then the run's."""
    from mage_ai.data_preparation.executors.block_executor import BlockExecutor
    from mage_ai.orchestration.db.models.schedules import BlockRun, PipelineRun

    global_vars = pipeline_run.get_variables()
    if "execution_date" not in requested:
        # As `mage run` without it: the pipeline's default slice, not the start time's month.
        global_vars["execution_date"] = None
    failed_block, error = None, None
    while failed_block is None:
        pipeline_run.refresh()
        pipeline_run.update_block_run_statuses(pipeline_run.initial_block_runs)
        ready = pipeline_run.executable_block_runs()
        if not ready:
            break
        for block_run in ready:
            block_run.update(status=BlockRun.BlockRunStatus.RUNNING, started_at=_now())
            log.info(f"Block {block_run.block_uuid}: started (block run {block_run.id}).")
            try:
                BlockExecutor(
                    pipeline,
                    block_run.block_uuid,
                    execution_partition=pipeline_run.execution_partition,
                ).execute(
                    block_run_id=block_run.id,
                    global_vars=global_vars,
                    pipeline_run_id=pipeline_run.id,
                    cache_block_output_in_memory=pipeline.cache_block_output_in_memory,
                    skip_logging=True,
                )
            except Exception as exc:  # the block run is already `failed`, its log has the trace
                failed_block, error = block_run.block_uuid, _sentence(exc)
                log.error(f"Block {failed_block} failed: {error}")
                traceback.print_exc()
                break
            log.info(f"Block {block_run.block_uuid}: completed.")
    pipeline_run.refresh()
    if failed_block is not None:
        # Mage's own pass: blocks downstream of the failure become `upstream_failed`.
        pipeline_run.update_block_run_statuses(pipeline_run.initial_block_runs)
        pipeline_run.update(status=PipelineRun.PipelineRunStatus.FAILED, completed_at=_now())
    elif pipeline_run.all_blocks_completed():
        pipeline_run.complete()
    else:
        failed_block, error = "?", "Some blocks never became runnable; see the run's block runs."
        pipeline_run.update(status=PipelineRun.PipelineRunStatus.FAILED, completed_at=_now())
    statuses = {b.block_uuid: str(b.status) for b in pipeline_run.block_runs}
    return Outcome(pipeline_run.id, str(pipeline_run.status), failed_block, error, statuses)


def _finish_backfill(backfill, planned: int) -> None:
    from mage_ai.orchestration.db.models.schedules import Backfill, PipelineRun

    backfill.refresh()
    statuses = [r.status for r in backfill.pipeline_runs]
    if PipelineRun.PipelineRunStatus.FAILED in statuses:
        backfill.update(status=Backfill.Status.FAILED, failed_at=backfill.failed_at or _now())
    elif len(statuses) >= planned and all(
        s == PipelineRun.PipelineRunStatus.COMPLETED for s in statuses
    ):
        backfill.update(status=Backfill.Status.COMPLETED, completed_at=_now())


def run_pipeline(
    project_path: str,
    pipeline_uuid: str,
    variables: dict[str, Any],
    trigger: str = "cli",
    backfill: BackfillSpec | None = None,
) -> Outcome:
    """Create the Mage pipeline run (trigger or backfill, block runs) and execute it."""
    project_path = os.path.abspath(project_path)
    prepare_database(project_path)
    from mage_ai.data_preparation.logging.logger import DictLogger
    from mage_ai.data_preparation.logging.logger_manager_factory import LoggerManagerFactory
    from mage_ai.data_preparation.models.pipeline import Pipeline
    from mage_ai.orchestration.db.models.schedules import PipelineRun

    pipeline = Pipeline.get(pipeline_uuid, repo_path=project_path)
    backfill_row = None
    if backfill is not None:
        backfill_row, schedule = backfill_for(pipeline_uuid, backfill, project_path)
    else:
        schedule = trigger_for(pipeline_uuid, trigger, project_path)
    execution_date = _now()
    if "execution_date" in variables:
        execution_date = parse_day(variables["execution_date"])
    pipeline_run = PipelineRun.create(
        pipeline_schedule_id=schedule.id,
        pipeline_uuid=pipeline_uuid,
        execution_date=execution_date,
        variables=variables,
        backfill_id=backfill_row.id if backfill_row is not None else None,
        status=PipelineRun.PipelineRunStatus.INITIAL,
        started_at=_now(),
        create_block_runs=True,
    )
    manager = LoggerManagerFactory.get_logger_manager(
        pipeline_uuid=pipeline_uuid,
        partition=pipeline_run.execution_partition,
        repo_config=pipeline.repo_config,
    )
    log = DictLogger(manager.logger)
    print(
        f"Mage pipeline run {pipeline_run.id} of {pipeline_uuid} "
        f"({'backfill ' + backfill.name if backfill else 'trigger ' + schedule.name}), "
        f"variables {json.dumps(variables, default=str, sort_keys=True)}.",
        flush=True,
    )
    log.info(f"Pipeline run {pipeline_run.id} started by {schedule.name}.")
    try:
        outcome = execute_run(pipeline, pipeline_run, variables, log)
    except BaseException as exc:  # e.g. a DB error mid-run: never leave it `initial`
        pipeline_run.update(status=PipelineRun.PipelineRunStatus.FAILED, completed_at=_now())
        log.error(f"Pipeline run {pipeline_run.id} failed: {_sentence(exc)}")
        manager.output_logs_to_destination()
        raise
    if outcome.error:
        log.error(
            f"Pipeline run {pipeline_run.id} failed in block {outcome.failed_block}: {outcome.error}"
        )
    else:
        log.info(f"Pipeline run {pipeline_run.id} completed.")
    manager.output_logs_to_destination()
    if backfill_row is not None:
        _finish_backfill(backfill_row, backfill.planned_runs)
    return outcome

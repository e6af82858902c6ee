"""The pipeline's commit, in one place: every sink changes only after every block staged.

A pipeline with several sinks (``api_to_gcs``: the month object, the partitioned dataset and
its warehouse copy; ``green_taxi_etl``: Postgres and GCS) runs its exporter blocks as *staging*
steps (Mage may run them at once): each uploads its objects to this run's ``_staging/`` folder
and checks them, or, for Postgres, only describes the load. Nothing a reader sees changes.
Then ONE block (``commit_slice``, downstream of every exporter) commits, in this order:

1. Postgres, one transaction per month (COPY, count, partition swap): atomic;
2. each GCS dataset under its slice lock: staged objects checked again, copied into place
   server-side (milliseconds each) — a partitioned dataset's month under a new version
   folder, made current by switching its manifest (one object write, manifest.py) — then
   stale objects (superseded versions, orphans of failed runs) deleted, the result checked.

A failed or stalled staging step fails the run before step 1: no sink changes. If a commit
fails after another sink took the new slice, the run fails with one sentence naming which
sinks hold the new slice and which the old (for a partitioned dataset: on which side of its
manifest switch the commit stopped); re-running converges, since
every run replaces its slice in every sink (docs/run-guarantees.md).
"""

from __future__ import annotations

import contextlib
from itertools import groupby

from mage_project.utils import ingest
from mage_project.utils.errors import TaxiDataError, short_reason
from mage_project.utils.locks import slice_lock
from mage_project.utils.results import LoadResult


def _sink(entry: dict) -> str:
    if entry["kind"] == "postgres":
        return f"Postgres {entry['table']}"
    from mage_project.utils.gcs import StagedObjects

    return StagedObjects.from_dict(entry).sink


def _lock_of(entry: dict) -> str:
    return entry.get("lock") or _sink(entry)


def _commit_one(entry: dict) -> LoadResult:
    if entry["kind"] == "postgres":
        return ingest.export_postgres(entry["typed"], entry["table"])
    from mage_project.utils.gcs import StagedObjects, commit_staged_objects

    return commit_staged_objects(StagedObjects.from_dict(entry))


def _discard(entries: list[dict]) -> None:
    from mage_project.utils.gcs import StagedObjects, discard_staged_objects

    for entry in entries:
        if entry["kind"] == "gcs":
            with contextlib.suppress(Exception):  # best effort: staging is outside every dataset
                discard_staged_objects(StagedObjects.from_dict(entry))


def order(staged: list[dict]) -> list[dict]:
    """Postgres first (atomic, and the slowest, so a stall there changes nothing), then GCS
    grouped by slice lock (a dataset, then its warehouse copy), each group by slice."""
    postgres = [e for e in staged if e["kind"] == "postgres"]
    gcs = sorted((e for e in staged if e["kind"] == "gcs"), key=lambda e: (_lock_of(e), e["slice"]))
    return postgres + gcs


#: What readers of a versioned dataset see after its commit stopped (gcs.SWITCH_STATES).
_SWITCHED = {
    "before": "keeps the old slice for readers of its manifest",
    "during": "holds the old or the new slice whole for readers of its manifest",
    "after": "holds the new slice for readers of its manifest",
}


def _failed_state(failed: dict, error: BaseException) -> str:
    if failed["kind"] != "gcs":
        return "keeps the old slice"
    if failed.get("manifest"):
        switched = _SWITCHED[getattr(error, "switched", "during")]
        return f"{switched} (the next run removes the other version's objects)"
    return "may hold a mix of old and new objects of its slice"


def partial_error(
    done: list[dict], failed: dict, pending: list[dict], error: BaseException
) -> TaxiDataError:
    """One sentence: which sinks hold the new slice, which may be mixed, which the old."""
    slices = ", ".join(sorted({e["slice"] for e in [*done, failed, *pending]}))
    # the error's first clause says what went wrong; its advice ("nothing was changed") does not
    # hold here, so it is left out
    reason = short_reason(error, 300).split(";")[0].rstrip(".")
    failing = f"{_sink(failed)} ({failed['slice']})"
    state = _failed_state(failed, error)
    parts = []
    if done:
        verb = " holds" if len(done) == 1 else " hold"
        parts.append(
            ", ".join(f"{_sink(e)} ({e['slice']})" for e in done) + verb + " the new slice"
        )
    parts.append(f"{failing} {state}")
    if pending:
        verb = " still holds" if len(pending) == 1 else " still hold"
        parts.append(
            ", ".join(f"{_sink(e)} ({e['slice']})" for e in pending) + verb + " the old slice"
        )
    return TaxiDataError(
        f"The run of {slices} failed while committing {failing} ({reason}): {'; '.join(parts)}; fix the cause and re-run the pipeline, which replaces the slice in every sink again."
    )


def commit_all(staged: list[dict]) -> list[LoadResult]:
    """Commit every staged sink (see the module docstring); one sentence if a commit fails
    once a sink may have changed (before that, the error as it is: nothing changed)."""
    entries = order(staged)
    done: list[dict] = []
    results: list[LoadResult] = []
    try:
        for entry in entries:
            if entry["kind"] != "postgres":
                continue
            results.append(_commit_one(entry))
            done.append(entry)
        gcs = [e for e in entries if e["kind"] == "gcs"]
        for (lock, slice_id), group in groupby(gcs, key=lambda e: (_lock_of(e), e["slice"])):
            with slice_lock(lock, slice_id):
                for entry in group:
                    results.append(_commit_one(entry))
                    done.append(entry)
    except BaseException as error:
        failed = entries[len(done)]
        pending = entries[len(done) + 1 :]
        _discard([failed, *pending])
        if not done and failed["kind"] == "postgres":
            raise  # a rolled-back transaction: no sink changed, the error says why
        raise partial_error(done, failed, pending, error) from None
    return results

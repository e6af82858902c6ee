"""The commit in one place (mage_project/utils/commit.py), without peers: Postgres first, GCS
grouped by slice lock, and a failed commit after another sink took the slice named sink by sink.
The whole pipelines are driven in tests/pipelines/test_pipeline_atomicity.py."""

from __future__ import annotations

import contextlib

import pytest

from mage_project.utils import commit, ingest
from mage_project.utils.errors import TaxiDataError
from mage_project.utils.results import LoadResult


def pg(month: str) -> dict:
    return ingest.staged_postgres({"slice": month, "rows_kept": 1}, "mage.green_taxi")


def gcs(prefix: str, month: str, lock: str | None = None) -> dict:
    entry = {"kind": "gcs", "bucket": "b", "prefix": prefix, "slice": month, "run_root": "r/",
             "files": {f"d=1/{month}.parquet": [1, "x"]}, "rows": 1}  # fmt: skip
    return {**entry, "lock": lock} if lock else entry


class Done(list):
    """The commits made, in order; ``failing``: sinks whose commit fails."""

    failing: set[str]


@pytest.fixture
def committed(monkeypatch) -> Done:
    done = Done()
    monkeypatch.setattr(commit, "slice_lock", lambda *a: contextlib.nullcontext())
    monkeypatch.setattr(commit, "_discard", lambda entries: None)

    def one(entry: dict) -> LoadResult:
        sink = commit._sink(entry)
        if sink in failing:
            raise TaxiDataError(f"{sink} did not finish within its 4 s deadline (X); check it.")
        done.append(f"{sink} {entry['slice']}")
        return LoadResult(sink, entry["slice"], 1, 0.0)

    failing: set[str] = set()
    monkeypatch.setattr(commit, "_commit_one", one)
    done.failing = failing
    return done


def test_postgres_commits_first_then_each_gcs_lock_group(committed):
    staged = [gcs("green_taxi", "2020-10"), pg("2020-10"), gcs("green_taxi", "2020-11"),
              pg("2020-11")]  # fmt: skip
    commit.commit_all(staged)
    assert committed == ["Postgres mage.green_taxi 2020-10", "Postgres mage.green_taxi 2020-11",
                         "gs://b/green_taxi/ 2020-10", "gs://b/green_taxi/ 2020-11"]  # fmt: skip


def test_a_first_postgres_failure_is_the_error_itself(committed):
    committed.failing.add("Postgres mage.green_taxi")
    with pytest.raises(TaxiDataError, match="^Postgres mage.green_taxi did not finish"):
        commit.commit_all([pg("2020-10"), gcs("green_taxi", "2020-10")])
    assert committed == []


def test_a_failure_after_a_commit_names_every_sink(committed):
    committed.failing.add("gs://b/green_taxi/")
    with pytest.raises(TaxiDataError) as error:
        commit.commit_all([pg("2020-10"), gcs("green_taxi", "2020-10"), gcs("other", "2020-10")])
    assert str(error.value) == (
        "The run of 2020-10 failed while committing gs://b/green_taxi/ (2020-10) (gs://b/green_taxi/ "
        "did not finish within its 4 s deadline (X)): Postgres mage.green_taxi (2020-10) holds the "
        "new slice; gs://b/green_taxi/ (2020-10) may hold a mix of old and new objects of its "
        "slice; gs://b/other/ (2020-10) still holds the old slice; fix the cause and re-run the "
        "pipeline, which replaces the slice in every sink again."
    )


@pytest.mark.parametrize(
    ("switched", "says"),
    [
        ("before", "keeps the old slice for readers of its manifest"),
        ("during", "holds the old or the new slice whole for readers of its manifest"),
        ("after", "holds the new slice for readers of its manifest"),
    ],
)
def test_a_failed_versioned_commit_says_which_side_of_the_manifest_switch(
    committed, monkeypatch, switched, says
):
    """A partitioned dataset's month changes for readers only at its manifest switch, so the
    sentence says which side of it the commit stopped on (never "a mix")."""
    real_one = commit._commit_one

    def one(entry: dict) -> LoadResult:
        if entry.get("manifest"):
            error = TaxiDataError("gs://b/green_taxi/ did not finish within its 4 s deadline (X).")
            error.switched = switched
            raise error
        return real_one(entry)

    monkeypatch.setattr(commit, "_commit_one", one)
    versioned = {**gcs("green_taxi", "2020-10"), "manifest": "green_taxi/_manifests/2020-10.json"}
    with pytest.raises(TaxiDataError) as error:
        commit.commit_all([pg("2020-10"), versioned])
    assert f"gs://b/green_taxi/ (2020-10) {says} (the next run removes" in str(error.value)
    assert "mix" not in str(error.value)

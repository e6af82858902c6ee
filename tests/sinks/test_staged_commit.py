"""Staging and commit as two steps (the blocks of a multi-sink pipeline, utils/commit.py): a
run's staged objects change nothing a reader sees, another run of the slice never deletes them
while they may be live, and old leftovers go after TAXI_STAGING_KEEP_SECONDS."""

from __future__ import annotations

import pytest

from mage_project.utils import gcs
from mage_project.utils.gcs import STAGING_PREFIX
from tests.sinks.sinkkit import gcs_snapshot

pytestmark = pytest.mark.twin


def stage(sinks, tmp_path, tag: str) -> gcs.StagedObjects:
    folder = tmp_path / tag
    folder.mkdir()
    files = {}
    for day in ("01", "02"):
        path = folder / f"{day}.parquet"
        path.write_bytes(f"{tag}-{day}".encode())
        files[f"d=2021-01-{day}/2021-01.parquet"] = path
    return gcs.stage_slice_objects(
        sinks.bucket,
        sinks.prefix,
        "2021-01",
        files,
        2,
        owned_start="d=",
        owned_end="/2021-01.parquet",
    )


def test_staged_runs_change_nothing_and_commit_in_any_order(sinks, tmp_path):
    first, second = stage(sinks, tmp_path, "one"), stage(sinks, tmp_path, "two")
    assert gcs_snapshot(sinks.bucket, sinks.prefix + "/") == {}, "staging changed the dataset"
    staged = gcs_snapshot(sinks.bucket, f"{STAGING_PREFIX}/{sinks.prefix}/")
    assert len(staged) == 4, "the second run deleted the first run's (live) staged objects"
    gcs.commit_staged_objects(gcs.StagedObjects.from_dict(second.to_dict()))
    gcs.commit_staged_objects(first)
    landed = gcs_snapshot(sinks.bucket, sinks.prefix + "/")
    assert len(landed) == 2
    assert gcs_snapshot(sinks.bucket, f"{STAGING_PREFIX}/{sinks.prefix}/") == {}


def test_leftovers_older_than_the_keep_time_are_removed(sinks, tmp_path, monkeypatch):
    stage(sinks, tmp_path, "dead")  # a run that never committed
    monkeypatch.setenv("TAXI_STAGING_KEEP_SECONDS", "0")
    live = stage(sinks, tmp_path, "next")
    staged = gcs_snapshot(sinks.bucket, f"{STAGING_PREFIX}/{sinks.prefix}/")
    assert sorted(staged) == sorted(live.run_root + name for name in live.files)

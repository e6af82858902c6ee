"""`make up ROWS=N|full`: the size of the generated sample months (TWIN_SAMPLE_ROWS)."""

from __future__ import annotations

import gzip

import pytest
from twin.errors import TwinError
from twin.samples import generate_sample_data, sample_rows


@pytest.mark.parametrize(("raw", "expected"), [("", None), ("1500", 1500), ("FULL", "full")])
def test_sample_rows_setting(monkeypatch, raw, expected):
    monkeypatch.setenv("TWIN_SAMPLE_ROWS", raw)
    assert sample_rows() == expected


@pytest.mark.parametrize("raw", ["abc", "0", "-5", "1e6"])
def test_bad_sample_rows_is_one_sentence(monkeypatch, raw):
    monkeypatch.setenv("TWIN_SAMPLE_ROWS", raw)
    with pytest.raises(TwinError, match=r"is not a row count; set a positive number or `full`"):
        sample_rows()


def test_generated_months_have_the_requested_rows(tmp_path):
    (path,) = generate_sample_data(tmp_path, months=[("green", 2021, 2)], rows=321)
    with gzip.open(path, "rt") as handle:
        assert sum(1 for _ in handle) == 321 + 1

"""Class 4 (a variable puts one pipeline's data under another's layout) and the runtime-variable
part of class 5 (overflowing numbers): every variable is validated per pipeline, before anything
is read or written, with one sentence.

On code without per-pipeline validation ``color=green`` is accepted by the yellow pipelines and
``year``/``month`` are silently ignored by green_taxi_etl (it loads Q4 2020 instead); ``1e400``
or ``inf`` raise a raw OverflowError.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mage_project.utils.errors import TaxiDataError
from mage_project.utils.slices import (
    day_from_kwargs,
    green_months_from_kwargs,
    month_slice_from_kwargs,
)

#: What each pipeline's first block does with its kwargs (see mage_project/data_loaders/).
LOADERS = {
    "api_to_postgres": month_slice_from_kwargs,
    "api_to_gcs": month_slice_from_kwargs,
    "gcs_to_bigquery": month_slice_from_kwargs,
    "api_to_gcs_parameterized": day_from_kwargs,
    "green_taxi_etl": green_months_from_kwargs,
}
OWN = {"green_taxi_etl": "green"}
FOREIGN = {  # a variable of another pipeline, with a value valid there
    "api_to_postgres": ("months", "2020-10"),
    "api_to_gcs": ("months", "2020-10,2020-11"),
    "gcs_to_bigquery": ("months", "2021-01"),
    "api_to_gcs_parameterized": ("month", "2"),
    "green_taxi_etl": ("year", "2021"),
}


def one_sentence(error: BaseException) -> str:
    text = str(error)
    assert "\n" not in text and text.endswith("."), text
    assert text.replace("e.g.", "eg").count(". ") == 0, text
    return text


@pytest.mark.parametrize("pipeline", sorted(LOADERS))
@given(color=st.sampled_from(["yellow", "green", "Green", " YELLOW "]))
def test_a_colour_the_pipeline_is_not_made_for_is_refused(pipeline, color):
    kwargs = {"pipeline_uuid": pipeline, "color": color}
    if color.strip().lower() == OWN.get(pipeline, "yellow"):
        LOADERS[pipeline](kwargs)
        return
    with pytest.raises(TaxiDataError) as error:
        LOADERS[pipeline](kwargs)
    assert f"does not fit pipeline {pipeline}" in one_sentence(error.value)


@pytest.mark.parametrize("pipeline", sorted(LOADERS))
def test_a_variable_of_another_pipeline_is_refused(pipeline):
    name, value = FOREIGN[pipeline]
    with pytest.raises(TaxiDataError) as error:
        LOADERS[pipeline]({"pipeline_uuid": pipeline, name: value})
    assert f"Runtime variable {name} is not used by pipeline {pipeline}" in one_sentence(
        error.value
    )


huge = st.one_of(
    st.integers(min_value=10**6).map(str),
    st.integers(max_value=-(10**6)).map(str),
    st.sampled_from(["1e400", "-1e400", "inf", "-inf", "nan", "1e308", "9" * 500, "1e-400"]),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
)


@given(name=st.sampled_from(["year", "month"]), value=huge)
def test_overflowing_numbers_in_variables_are_one_sentence(name, value):
    kwargs = {"pipeline_uuid": "api_to_postgres", "year": "2021", "month": "1", name: value}
    try:
        month_slice_from_kwargs(kwargs)
    except TaxiDataError as error:
        text = one_sentence(error)
        assert f"Runtime variable {name}=" in text and len(text) < 200, text

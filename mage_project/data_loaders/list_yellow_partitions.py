"""Load: the month's objects in the partitioned yellow dataset in GCS, as its manifest says
(names only; the data stays in GCS and BigQuery reads it server-side)."""

import io

from mage_project.utils.errors import TaxiDataError
from mage_project.utils.ingest import YELLOW_PARTITIONED_PREFIX
from mage_project.utils.lake import read_objects
from mage_project.utils.preview import parquet_head, show
from mage_project.utils.settings import env
from mage_project.utils.slices import month_slice_from_kwargs

if "data_loader" not in globals():
    from mage_ai.data_preparation.decorators import data_loader
if "test" not in globals():
    from mage_ai.data_preparation.decorators import test


@data_loader
def list_yellow_partitions(*args, **kwargs) -> tuple:
    month = month_slice_from_kwargs(kwargs)
    bucket = env("GCS_BUCKET")
    # the month's current version as its manifest says (never half of a commit: lake.py), and
    # the bytes of one day's object for the preview, from that same version
    version, first = read_objects(bucket, YELLOW_PARTITIONED_PREFIX, month.name, limit=1)
    names = [version.name(relative) for relative in version.objects]
    if not names:  # our sentence, not Mage's "Failed to pass tests for block ...", ends the run
        raise TaxiDataError(
            f"There are no objects of month {month.name} under gs://{bucket}/{YELLOW_PARTITIONED_PREFIX}/, so BigQuery keeps that month as it was; run api_to_gcs for that month first."
        )
    # one day's object, not the month: the first rows BigQuery will read
    head = parquet_head(io.BytesIO(first[0][1]))
    what = f"of {names[0]} (1 of {len(names)} objects of {month.name})"
    listing = {
        "bucket": bucket,
        "prefix": YELLOW_PARTITIONED_PREFIX,
        **month.to_dict(),  # the slice itself, handed on (MonthSlice.from_dict downstream)
        "objects": names,
    }
    return listing, show(head, None, what)


@test
def test_output(output, *args) -> None:
    assert output["objects"], (
        f"no objects for month {output['slice']} under gs://{output['bucket']}/{output['prefix']}/; run api_to_gcs for that month first"
    )

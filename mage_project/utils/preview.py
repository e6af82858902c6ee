"""What a block shows under it in Mage: the first rows of the data it handles, with their types.

Each block returns ``(descriptor, preview)``: the small dict the next block works from (paths,
counts; the month stays on disk) and a DataFrame of at most ``PREVIEW_ROWS`` rows read from the
head of the staged or typed file, never the month. Mage shows the DataFrame as a table (and its
Data panel's column types); it hands both outputs to the next block as a list, which
:func:`handed` turns back into the descriptor.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from mage_project.utils.env_contract import VARIABLES
from mage_project.utils.settings import env

#: Rows a block shows (Mage's own output preview shows 10).
PREVIEW_ROWS = 10
#: One sentence on the size of the data a run on the twin sees.
SAMPLE_NOTE = (
    "The local twin serves sample months (2,000 rows each) unless started with "
    "`make up ROWS=full` (real sizes, e.g. 1,369,765 rows for yellow 2021-01)."
)
_NULLABLE = {
    pa.int8(): pd.Int8Dtype(),
    pa.int16(): pd.Int16Dtype(),
    pa.int32(): pd.Int32Dtype(),
    pa.int64(): pd.Int64Dtype(),
}


def handed(upstream: Any) -> Any:
    """The descriptor an upstream block handed on (Mage passes a block's several outputs as a
    list: ``[descriptor, preview]``)."""
    return upstream[0] if isinstance(upstream, list) and upstream else upstream


def head_of(upstream: Any) -> pd.DataFrame:
    """The preview an upstream block handed on (its second output), else an empty frame."""
    if isinstance(upstream, list) and len(upstream) > 1 and isinstance(upstream[1], pd.DataFrame):
        return upstream[1]
    return pd.DataFrame()


#: Mage masks every environment value of 8 characters or more in block output
#: (mage_ai/shared/security.py, MIN_SECRET_LENGTH): ``gs://*************/...``.
MASKED_LENGTH = 8


def readable(text: str) -> str:
    """``text`` with the values of the environment contract Mage would mask written as their
    names (``gs://$GCS_BUCKET/...``), so the line stays readable; secrets are never printed."""
    values = {v.name: env(v.name, "") for v in VARIABLES}
    for name, value in sorted(values.items(), key=lambda item: -len(item[1])):
        if len(value) >= MASKED_LENGTH:
            text = text.replace(value, f"${name}")
    return text


def frame(table: pa.Table) -> pd.DataFrame:
    """``table`` as pandas with nullable integers (the course's ``Int64``), timestamps kept."""
    return table.to_pandas(types_mapper=_NULLABLE.get)


def csv_head(path: str | Path, rows: int = PREVIEW_ROWS) -> pd.DataFrame:
    """The first ``rows`` rows of a (gzipped) CSV file, types inferred from its first block."""
    reader = pacsv.open_csv(
        pa.input_stream(str(path), compression="detect"),
        read_options=pacsv.ReadOptions(block_size=1 << 20),
    )
    try:
        batch = reader.read_next_batch()
    except StopIteration:
        return frame(reader.schema.empty_table())
    return frame(pa.Table.from_batches([batch]).slice(0, rows))


def parquet_head(source: Any, rows: int = PREVIEW_ROWS) -> pd.DataFrame:
    """The first ``rows`` rows of a parquet file (a path or a file object), one batch read."""
    parquet = pq.ParquetFile(source)
    batch = next(parquet.iter_batches(batch_size=rows), None)
    if batch is None:
        return frame(parquet.schema_arrow.empty_table())
    return frame(pa.Table.from_batches([batch]))


def show(head: pd.DataFrame, total: int | None, what: str) -> pd.DataFrame:
    """Print what the preview is (its size of the whole, and the twin's sample size) and
    return it for Mage's output table."""
    of = f"of {total:,} rows" if total is not None else "rows"
    print(
        f"Preview: the first {len(head):,} {of} {what} (at most {PREVIEW_ROWS} shown; the rest "
        f"stay on disk). {SAMPLE_NOTE}"
    )
    return head

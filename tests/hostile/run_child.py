"""One run of the yellow data path, as a separate process (run by test_concurrency.py).

``python run_child.py <year> <month> <table> <prefix> <single object name> <go file>``: once
``<go file>`` exists, load (from ``$TAXI_DATA_BASE_URL``) → transform → Postgres, the
partitioned objects and the single object.
Prints the kept row count; any error is printed as its sentence and exits 1.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from mage_project.utils import ingest
from mage_project.utils.slices import MonthSlice


def main(year: str, month: str, table: str, prefix: str, single: str, go: str) -> None:
    Path(go + f".ready-{os.getpid()}").touch()
    while not Path(go).exists():  # every run starts its load at the same moment
        time.sleep(0.005)
    typed = ingest.transform(ingest.load(MonthSlice("yellow", int(year), int(month))))
    ingest.export_postgres(typed, table)
    ingest.export_gcs_partitioned(typed, prefix)
    ingest.export_gcs_single(typed, single)
    print(typed.rows_kept)


if __name__ == "__main__":
    main(*sys.argv[1:])

"""Stage one file and report the peak memory (run by test_exhaustion.py in a fresh process).

``python peak_child.py <source .csv.gz> <out.parquet>`` prints one JSON line:
``{"peak_mb": <peak RSS (VmHWM)>, "error": <the sentence or null>}``.
"""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path

from mage_project.utils.errors import TaxiDataError
from mage_project.utils.transform import stage_typed

if __name__ == "__main__":
    source, out = Path(sys.argv[1]), Path(sys.argv[2])
    error = None
    try:
        stage_typed(source, "yellow", "2021-01", out)
    except TaxiDataError as failure:
        error = str(failure)
    # VmHWM: this process image's peak RSS (ru_maxrss would carry the forking parent's over exec)
    status = Path("/proc/self/status").read_text()
    hwm = [line for line in status.splitlines() if line.startswith("VmHWM:")]
    peak = (
        int(hwm[0].split()[1]) / 1024
        if hwm
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    )
    print(json.dumps({"peak_mb": round(peak, 1), "error": error}))

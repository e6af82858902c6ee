#!/usr/bin/env bash
# Idempotent set-up of the local GCP twin, run at the end of scripts/setup.sh:
#  - DuckDB's spatial extension (bqemulator loads it at start) installed offline from the
#    duckdb-extension-spatial wheel into DuckDB's extension directory;
#  - when root: the unprivileged OS user that runs PostgreSQL (it refuses to run as root).
set -euo pipefail
cd "$(dirname "$0")/.."

TWIN_PY=.venv-twin/bin/python
PG_USER=magetwin

if [ ! -x "$TWIN_PY" ]; then
  echo "setup_twin: $TWIN_PY is missing; run scripts/setup.sh first" >&2
  exit 1
fi
echo "setup_twin: $("$TWIN_PY" -m twin.bq_launcher install-spatial)"

if [ "$(id -u)" = "0" ]; then
  if ! id -u "$PG_USER" >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_USER"
    echo "setup_twin: created OS user $PG_USER (runs PostgreSQL, which refuses to run as root)"
  fi
fi

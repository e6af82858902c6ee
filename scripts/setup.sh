#!/usr/bin/env bash
# One-time (idempotent) set-up: uv, both Python environments from uv.lock, Chromium for UI tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export UV_PYTHON_DOWNLOADS=never

if ! command -v uv >/dev/null 2>&1; then
  echo "setup: installing uv from PyPI"
  python3 -m pip install --quiet "uv==0.13.9"
fi

if [ "$(id -u)" = "0" ] && ! command -v chromium >/dev/null 2>&1 && [ "${SKIP_APT:-0}" != "1" ]; then
  echo "setup: installing Debian chromium (UI tests)"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

# Debian's PostgreSQL server: the Cloud SQL stand-in of the Cloud Run contract tests (tests/cloudrun).
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 && [ "${SKIP_APT:-0}" != "1" ]; then
  echo "setup: installing Debian postgresql (Cloud SQL stand-in for tests/cloudrun)"
  as_root=""
  [ "$(id -u)" = "0" ] || as_root="sudo"
  $as_root apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq postgresql openssl >/dev/null
fi

echo "setup: syncing .venv (Mage, Pulumi, tests) from uv.lock"
uv sync --frozen --quiet --compile-bytecode  # .pyc at install: PYTHONDONTWRITEBYTECODE may be set, and compiling Mage on every start costs ~4 s
echo "setup: syncing .venv-twin (GCS and BigQuery emulators) from uv.lock"
UV_PROJECT_ENVIRONMENT=.venv-twin uv sync --frozen --quiet --compile-bytecode --no-default-groups --group emulators

if [ -x scripts/setup_twin.sh ]; then
  scripts/setup_twin.sh
fi

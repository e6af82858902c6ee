#!/usr/bin/env bash
# One-time (idempotent) set-up for `make up` and everything else, needing no root: uv, Python 3.11
# (uv's managed Python where the machine has none: scripts/setup_python.sh), both Python
# environments from uv.lock, and psql (postgresql-client) for your shell, installed with apt-get
# as root or through `sudo -n`, else one sentence says what to install (SKIP_APT=1 skips it).
# What only the tests need (Debian's PostgreSQL server, a browser) is scripts/setup_tests.sh's.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v uv >/dev/null 2>&1; then
  # A venv of its own: Debian's and Ubuntu's system Python refuse `pip install` (PEP 668).
  if [ ! -x .venv-uv/bin/uv ]; then
    echo "setup: installing uv 0.13.9 from PyPI into .venv-uv"
    if ! { python3 -m venv .venv-uv && .venv-uv/bin/python -m pip install --quiet "uv==0.13.9"; }; then
      echo "setup: could not install uv; install uv 0.13.9 (e.g. pipx install uv==0.13.9) and re-run." >&2
      exit 1
    fi
  fi
  export PATH="$PWD/.venv-uv/bin:$PATH"
fi

UV=uv scripts/setup_python.sh

echo "setup: syncing .venv (Mage, Pulumi, tests) from uv.lock"
uv sync --frozen --quiet --compile-bytecode  # .pyc at install: PYTHONDONTWRITEBYTECODE may be set, and compiling Mage on every start costs ~4 s
echo "setup: syncing .venv-twin (GCS and BigQuery emulators) from uv.lock"
UV_PROJECT_ENVIRONMENT=.venv-twin uv sync --frozen --quiet --compile-bytecode --no-default-groups --group emulators

if [ "${SKIP_APT:-0}" != "1" ]; then
  missing=()
  command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
  if [ "${#missing[@]}" -gt 0 ]; then
    scripts/apt_install.sh "${missing[@]}"
  fi
fi

# Running blocks in the Mage UI rewrites the pipelines' metadata.yaml with run state; this clean
# filter (.gitattributes) keeps `git status` clean for it (scripts/mage_run_state.sed).
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git config filter.mage-run-state.clean "sed -E -f scripts/mage_run_state.sed"
fi

if [ -x scripts/setup_twin.sh ]; then
  scripts/setup_twin.sh
fi

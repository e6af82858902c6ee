#!/usr/bin/env bash
# The tests' own set-up (`make test` runs it after scripts/setup.sh; `make up` never does): the
# system packages only tests use -- Debian's PostgreSQL server (the Cloud SQL stand-in of the
# Cloud Run contract tests, tests/cloudrun; installing it starts Debian's own cluster) and a
# Chromium-family browser (tests/ui, found by tests/browser_path.py) and buildah + debootstrap
# (tests/cloudrun builds the Dockerfile and runs the planned containers inside the image) -- through
# scripts/apt_install.sh: as root, through `sudo -n`, else one sentence saying what to install
# (the tests that need them say so too). Idempotent; SKIP_APT=1 skips it.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${SKIP_APT:-0}" = "1" ] && exit 0
missing=()
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql openssl)
.venv/bin/python tests/browser_path.py >/dev/null || missing+=(chromium)
command -v buildah >/dev/null 2>&1 || missing+=(buildah)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
if [ "${#missing[@]}" -gt 0 ]; then
  scripts/apt_install.sh "${missing[@]}"
fi

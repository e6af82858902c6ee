#!/usr/bin/env bash
# `make test`: the whole suite on every core (pytest-xdist, one file per worker at a time).
#
# Tests marked `root` (the Cloud Run contract layer, tests/cloudrun: mount namespaces and the
# image's uid; the tiny-disk tests: a tmpfs) need root. As root, everything runs in one session.
# As a user with passwordless sudo (GitHub's runners), everything else runs as the user and the
# `root` tests run in a second session through `sudo -n`, with a throwaway HOME (nothing of
# root's lands in yours) and no bytecode written into the checkout. Without either, the `root`
# tests say in one sentence that they need root (the tmpfs tests skip).
#
#   scripts/run_tests.sh [PYTEST ARGS...]   (make test passes none; e.g. tests/twin -x)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTEST=(.venv/bin/python -m pytest -n auto --dist loadfile)

# The image's root-filesystem checkouts of an earlier session (tests/cloudrun makes them; none is
# in use before a session starts): removed, with the dangling layers of earlier builds.
PRUNE=(.venv/bin/python -m tools.image prune)

if [ "$(id -u)" = "0" ] || ! sudo -n true 2>/dev/null; then
  [ "$(id -u)" = "0" ] && "${PRUNE[@]}" >/dev/null 2>&1 || true
  exec "${PYTEST[@]}" "$@"
fi

status=0
echo "run_tests: the tests not marked root, as $(id -un)"
"${PYTEST[@]}" -m "not root" "$@" || status=$?
echo "run_tests: the tests marked root, through sudo -n"
root_home=$(mktemp -d)
sudo -n "${PRUNE[@]}" >/dev/null 2>&1 || true
sudo -n -E env "PATH=$PATH" "HOME=$root_home" PYTHONDONTWRITEBYTECODE=1 \
  "PLAYWRIGHT_BROWSERS_PATH=${PLAYWRIGHT_BROWSERS_PATH:-$HOME/.cache/ms-playwright}" \
  "${PYTEST[@]}" -m root "$@" || { code=$?; [ "$code" = 5 ] || status=$code; }  # 5: none selected
sudo -n rm -rf "$root_home"
for made in .hypothesis test-artifacts; do  # what the root session may have written here
  [ -e "$made" ] && sudo -n chown -R "$(id -u):$(id -g)" "$made"
done
exit "$status"

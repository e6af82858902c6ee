#!/usr/bin/env bash
# `make up` as a user WITHOUT sudo rights starts the twin (issue 20: no root on the `make up`
# path). As root it creates a throwaway user with no sudoers entry, clones REPO (default: this
# checkout's committed HEAD) into /tmp as that user, runs `make up` there in the background,
# waits until the Mage UI answers, stops it with `make down`, and removes the user and clone.
#
#   sudo -E scripts/check_up_nosudo.sh [REPO]   (as root; -E: a TLS proxy's CA settings pass)
#
# tests/setup/test_up_nosudo.py runs it in `make test` with UV_CACHE_SEED (a few minutes).
#
# Exit status 0 when the UI answered; the set-up's and the twin's output is printed.
set -euo pipefail
if [ "$(id -u)" != "0" ]; then
  echo "check_up_nosudo: run as root (it creates and removes a throwaway user): sudo $0" >&2
  exit 2
fi
REPO=${1:-$(cd "$(dirname "$0")/.." && pwd)}
. "$(dirname "$0")/throwaway_user.sh"
USER_NAME=magegcp-nosudo-$$
CLONE=/tmp/$USER_NAME
PORT=${CHECK_MAGE_PORT:-16789}
trap throwaway_user_cleanup EXIT
throwaway_user_create "$USER_NAME"
# UV_CACHE_SEED (the test suite sets it): start the user's uv cache from this one, so the
# set-up installs from cached wheels instead of downloading them (PyPI is still asked for uv).
[ -n "${UV_CACHE_SEED:-}" ] && throwaway_user_seed_uv_cache "$UV_CACHE_SEED"
echo "check_up_nosudo: user $USER_NAME (uid $(id -u "$USER_NAME")), sudo rights: $(as_user 'command -v sudo >/dev/null && sudo -n true 2>/dev/null && echo yes || echo none')"
as_user "git config --global --add safe.directory '*' && git clone --quiet '$REPO' '$CLONE' && cd '$CLONE' && git log --oneline -1"
PORTS="MAGE_PORT=$PORT"
for name in TWIN_POSTGRES_PORT TWIN_GCS_PORT TWIN_BIGQUERY_PORT TWIN_BIGQUERY_GRPC_PORT TWIN_FILES_PORT; do
  [ -n "${!name:-}" ] && PORTS+=" $name=${!name}"  # the suite's free ports; else the defaults
done
start=$(date +%s)
as_user "cd '$CLONE' && $PORTS nohup make up > up.log 2>&1 &"
status=1
while [ $(($(date +%s) - start)) -lt "${CHECK_TIMEOUT_S:-1800}" ]; do
  if curl -fsS -o /dev/null "http://127.0.0.1:$PORT/" 2>/dev/null; then
    status=0
    break
  fi
  if ! pgrep -u "$USER_NAME" -f "make up" >/dev/null; then
    break  # make up ended without serving the UI
  fi
  sleep 5
done
echo "check_up_nosudo: make up as $USER_NAME: $([ "$status" = 0 ] && echo "the Mage UI answered after $(($(date +%s) - start)) s" || echo "no UI")"
cat "$CLONE/up.log"
as_user "cd '$CLONE' && make down" || true
exit "$status"

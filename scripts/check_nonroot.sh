#!/usr/bin/env bash
# A documented check (not part of `make test`: it downloads the environments afresh, ~10+ min):
# set-up and tests as a non-root user with passwordless sudo, as on GitHub's Ubuntu runners.
#
#   sudo -E scripts/check_nonroot.sh [REPO] [PYTEST ARGS...]   (-E: a TLS proxy's CA settings pass)
#   sudo -E scripts/check_nonroot.sh REPO --make-test     (the whole `make test`, ~15 min)
#
# As root it: installs sudo if missing; creates a throwaway user with passwordless sudo;
# clones REPO (default: this checkout's committed HEAD) into /tmp as that user; runs
# scripts/setup.sh as the user (uv from PyPI into .venv-uv when the user has none, the apt step
# through `sudo -n`, no magetwin user); then a subset of the suite as the user; and finally
# removes the user, its sudoers entry and the clone. Exit status: the tests'.
set -euo pipefail
if [ "$(id -u)" != "0" ]; then
  echo "check_nonroot: run as root (it creates and removes a throwaway user): sudo $0" >&2
  exit 2
fi
REPO=${1:-$(cd "$(dirname "$0")/.." && pwd)}
shift || true
TESTS=("$@")
if [ "${#TESTS[@]}" -eq 0 ]; then
  TESTS=(tests/setup tests/twin/test_shell_env.py tests/integrations tests/blocks -x)
fi
. "$(dirname "$0")/throwaway_user.sh"
USER_NAME=magegcp-nonroot-$$
CLONE=/tmp/$USER_NAME
SUDOERS=/etc/sudoers.d/$USER_NAME
trap throwaway_user_cleanup EXIT

if ! command -v sudo >/dev/null 2>&1; then
  echo "check_nonroot: installing sudo"
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sudo >/dev/null
fi
throwaway_user_create "$USER_NAME"
echo "$USER_NAME ALL=(ALL) NOPASSWD:ALL" >"$SUDOERS"
chmod 0440 "$SUDOERS"
echo "check_nonroot: user $USER_NAME (uid $(id -u "$USER_NAME")), passwordless sudo: $(sudo -u "$USER_NAME" sudo -n true && echo yes)"

as_user "git config --global --add safe.directory '*' && git clone --quiet '$REPO' '$CLONE' && cd '$CLONE' && git log --oneline -1"
echo "check_nonroot: scripts/setup.sh as $USER_NAME"
start=$(date +%s)
as_user "cd '$CLONE' && scripts/setup.sh"
echo "check_nonroot: setup took $(($(date +%s) - start)) s"
echo "check_nonroot: the apt step through sudo -n:"
as_user "cd '$CLONE' && scripts/apt_install.sh postgresql-client"
as_user "cd '$CLONE' && echo \"browser: \$(.venv/bin/python tests/browser_path.py)\"; id -u magetwin >/dev/null 2>&1 && echo 'magetwin exists (created earlier by a root set-up)' || echo 'no magetwin user (not needed: PostgreSQL runs as the user)'"
echo "check_nonroot: pytest ${TESTS[*]} as $USER_NAME"
start=$(date +%s)
status=0
if [ "${TESTS[*]}" = "--make-test" ]; then
  as_user "cd '$CLONE' && make test" || status=$?
else
  as_user "cd '$CLONE' && .venv/bin/python -m pytest -q -W ignore ${TESTS[*]}" || status=$?
fi
echo "check_nonroot: tests took $(($(date +%s) - start)) s, exit $status"
exit "$status"

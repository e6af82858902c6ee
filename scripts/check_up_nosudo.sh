#!/usr/bin/env bash
# A documented check (not part of `make test`: it downloads the environments afresh, minutes):
# `make up` as a user WITHOUT sudo rights starts the twin (issue 20: no root on the `make up`
# path). As root it creates a throwaway user with no sudoers entry, clones REPO (default: this
# checkout's committed HEAD) into /tmp as that user, runs `make up` there in the background,
# waits until the Mage UI answers, stops it with `make down`, and removes the user and clone.
#
#   sudo -E scripts/check_up_nosudo.sh [REPO]   (as root; -E: a TLS proxy's CA settings pass)
#
# Exit status 0 when the UI answered; the set-up's and the twin's output is printed.
set -euo pipefail
if [ "$(id -u)" != "0" ]; then
  echo "check_up_nosudo: run as root (it creates and removes a throwaway user): sudo $0" >&2
  exit 2
fi
REPO=${1:-$(cd "$(dirname "$0")/.." && pwd)}
USER_NAME=magegcp-nosudo-$$
CLONE=/tmp/$USER_NAME
PORT=${CHECK_MAGE_PORT:-16789}

cleanup() {
  pkill -u "$USER_NAME" 2>/dev/null || true  # only the throwaway user's processes
  sleep 3
  pkill -KILL -u "$USER_NAME" 2>/dev/null || true
  userdel -r "$USER_NAME" 2>/dev/null || true
  rm -rf "$CLONE" "/tmp/pytest-of-$USER_NAME"
}
trap cleanup EXIT

for attempt in 1 2 3 4 5 6 7 8 9 10; do  # /etc/passwd may be locked by another user tool
  useradd --create-home --shell /bin/bash "$USER_NAME" && break
  [ "$attempt" = 10 ] && exit 1
  sleep 3
done
PASS=()
for name in SSL_CERT_FILE SSL_CERT_DIR REQUESTS_CA_BUNDLE CURL_CA_BUNDLE PIP_CERT PIP_FIND_LINKS \
  HTTP_PROXY HTTPS_PROXY NO_PROXY http_proxy https_proxy no_proxy; do
  [ -n "${!name:-}" ] && PASS+=("$name=${!name}")
done
as_user() {
  # runuser (util-linux): no sudo needed on this machine, none given to the user.
  runuser -u "$USER_NAME" -- env -i HOME="/home/$USER_NAME" USER="$USER_NAME" \
    PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 "${PASS[@]}" bash -c "$1"
}
echo "check_up_nosudo: user $USER_NAME (uid $(id -u "$USER_NAME")), sudo rights: $(as_user 'command -v sudo >/dev/null && sudo -n true 2>/dev/null && echo yes || echo none')"
as_user "git config --global --add safe.directory '*' && git clone --quiet '$REPO' '$CLONE' && cd '$CLONE' && git log --oneline -1"
start=$(date +%s)
as_user "cd '$CLONE' && MAGE_PORT=$PORT nohup make up > up.log 2>&1 &"
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

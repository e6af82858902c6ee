#!/usr/bin/env bash
# scripts/apt_install.sh PACKAGE...: install Debian/Ubuntu packages with apt-get as root, or
# through `sudo -n` for a user with passwordless sudo (GitHub's runners); otherwise say in one
# sentence what to install. Never prompts; exit 0 either way (setup goes on, the tests that need
# the package say what is missing).
set -euo pipefail
[ "$#" -gt 0 ] || exit 0
sudo=()
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
  else
    echo "setup: missing $*: not root and no passwordless sudo; install them (sudo apt-get install $*) and re-run." >&2
    exit 0
  fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup: missing $*: there is no apt-get here; install them with your package manager and re-run." >&2
  exit 0
fi
echo "setup: installing $* (${sudo[*]:-as root} apt-get)"
if ! { "${sudo[@]}" apt-get update -qq >/dev/null &&
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; }; then
  echo "setup: apt-get could not install $*; install them yourself and re-run." >&2
fi

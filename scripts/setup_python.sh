#!/usr/bin/env bash
# scripts/setup_python.sh (run by scripts/setup.sh): make sure uv has the project's Python 3.11
# (pyproject's requires-python ==3.11.*): one on PATH, one uv installed before, or else uv's
# managed Python 3.11, downloaded now -- so Ubuntu 24.04, Debian 13, WSL and Codespaces (3.12+)
# work. Where none can be had (no download possible), one sentence says what to install; exit 1.
set -euo pipefail
cd "$(dirname "$0")/.."
uv="${UV:-uv}"
# --system: not the project's .venv (it may be from another machine's Python).
if "$uv" python find --system 3.11 >/dev/null 2>&1; then
  exit 0
fi
echo "setup: no Python 3.11 on this machine; asking uv for its managed Python 3.11 (a download)"
if "$uv" python install 3.11 >/dev/null 2>&1 && "$uv" python find --system 3.11 >/dev/null 2>&1; then
  exit 0
fi
echo "setup: there is no Python 3.11 here and uv could not download one; install Python 3.11 with its venv module (Debian 12: sudo apt-get install python3.11-venv; Ubuntu 24.04: python3.11-venv from the deadsnakes PPA) or run \`uv python install 3.11\` on a machine that can reach GitHub, then re-run make up." >&2
exit 1

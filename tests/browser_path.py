"""Find a Chromium-family browser for the UI tests without assuming Debian's path.

Order: ``$CHROME_PATH`` (or the older ``$CHROMIUM``), then on ``PATH``: chromium,
chromium-browser, google-chrome, google-chrome-stable (GitHub's Ubuntu runners have the last
two), then a browser Playwright downloaded (``$PLAYWRIGHT_BROWSERS_PATH``, else
``~/.cache/ms-playwright``). ``python tests/browser_path.py`` prints the path (exit 0) or what to
install (exit 1); scripts/setup.sh uses that to decide whether to install Debian's chromium.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

OVERRIDES = ("CHROME_PATH", "CHROMIUM")
COMMANDS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
PLAYWRIGHT_GLOBS = (
    "chromium-*/chrome-linux*/chrome",
    "chromium_headless_shell-*/chrome-linux*/headless_shell",
)
MISSING = (
    "No Chromium-family browser found; install one (Debian: `sudo apt-get install chromium`, "
    "Ubuntu: `sudo apt-get install google-chrome-stable` from Google's repository, or "
    "`.venv/bin/playwright install chromium`) or set CHROME_PATH to its binary."
)


def find_browser() -> Path | None:
    """The first usable browser binary, or None."""
    for name in OVERRIDES:
        value = os.environ.get(name, "").strip()
        if value:
            path = Path(value)
            return path if path.is_file() and os.access(path, os.X_OK) else None
    for command in COMMANDS:
        found = shutil.which(command)
        if found:
            return Path(found)
    root = os.environ.get("PLAYWRIGHT_BROWSERS_PATH", "").strip()
    base = Path(root) if root and root != "0" else Path.home() / ".cache" / "ms-playwright"
    for pattern in PLAYWRIGHT_GLOBS:
        for path in sorted(base.glob(pattern), reverse=True):
            if os.access(path, os.X_OK):
                return path
    return None


if __name__ == "__main__":
    browser = find_browser()
    print(browser if browser else MISSING)
    sys.exit(0 if browser else 1)

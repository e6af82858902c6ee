"""The UI tests' browser is found where GitHub's Ubuntu runners and other systems put it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.browser_path import find_browser


def fake_binary(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def bare(monkeypatch, tmp_path):
    """No override, an empty PATH dir and an empty HOME."""
    for name in ("CHROME_PATH", "CHROMIUM", "PLAYWRIGHT_BROWSERS_PATH"):
        monkeypatch.delenv(name, raising=False)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return bin_dir


def test_google_chrome_on_path_is_found_without_debian_chromium(bare):
    chrome = fake_binary(bare / "google-chrome")
    assert find_browser() == chrome


def test_chromium_is_preferred_and_chrome_path_overrides(bare, monkeypatch, tmp_path):
    fake_binary(bare / "google-chrome")
    chromium = fake_binary(bare / "chromium-browser")
    assert find_browser() == chromium
    custom = fake_binary(tmp_path / "opt" / "my-chrome")
    monkeypatch.setenv("CHROME_PATH", str(custom))
    assert find_browser() == custom
    monkeypatch.setenv("CHROME_PATH", str(tmp_path / "missing"))
    assert find_browser() is None  # a wrong override is reported, not silently replaced


def test_a_playwright_download_is_the_fallback(bare, monkeypatch, tmp_path):
    assert find_browser() is None
    default = fake_binary(tmp_path / "home/.cache/ms-playwright/chromium-1187/chrome-linux/chrome")
    assert find_browser() == default
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path / "pw"))
    shell = tmp_path / "pw/chromium_headless_shell-1187/chrome-linux/headless_shell"
    assert find_browser() is None and os.access(fake_binary(shell), os.X_OK)
    assert find_browser() == shell

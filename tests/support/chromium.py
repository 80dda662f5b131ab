"""Headless Chromium for UI tests (Debian's `chromium` package).

CI installs it (.ci/run); outside CI a missing browser skips the test with a message.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("chromium is required in CI (.ci/run installs Debian's chromium)")
        pytest.skip("chromium not installed (apt-get install chromium); skipping browser test")
    return path


def screenshot(url: str, name: str, size: str = "1280,900") -> Path:
    """Load ``url`` headless and save a PNG under test-artifacts/; returns its path."""
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / name
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                chromium_path(),
                *FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={size}",
                f"--screenshot={target}",
                url,
            ],
            check=True,
            capture_output=True,
            timeout=90,
        )
    return target


def dump_dom(url: str) -> str:
    """The page's DOM after load (scripts run), as Chromium serialises it."""
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [chromium_path(), *FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
            check=True,
            capture_output=True,
            timeout=90,
            text=True,
        )
    return done.stdout

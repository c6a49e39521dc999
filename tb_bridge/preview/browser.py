"""Headless Chromium (Debian package ``chromium``) for screenshots and the DOM after scripts ran.

Started with ``--headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking
--disable-component-update --disable-sync`` and a fresh ``--user-data-dir`` each time.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
          "--disable-component-update", "--disable-sync", "--hide-scrollbars")


class BrowserError(RuntimeError):
    """Chromium is missing or failed."""


def chromium_path() -> str:
    """The Chromium executable (``chromium`` or ``chromium-browser`` on PATH)."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    raise BrowserError("chromium not found: apt-get install -y chromium")


def _run(args: list[str], timeout_s: float) -> str:
    with tempfile.TemporaryDirectory(prefix="atilax-chromium-") as profile:
        cmd = [chromium_path(), *_FLAGS, f"--user-data-dir={profile}", *args]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise BrowserError(f"chromium did not finish in {timeout_s} s") from None
    if done.returncode != 0:
        raise BrowserError(f"chromium exited {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout


def screenshot(html_path: Path, png_path: Path, *, width: int = 1600, height: int = 4000,
               budget_ms: int = 15000, timeout_s: float = 180.0) -> Path:
    """Render ``html_path`` and write a PNG of ``width`` x ``height`` pixels; returns ``png_path``."""
    png_path = Path(png_path).resolve()
    _run([f"--screenshot={png_path}", f"--window-size={width},{height}", f"--virtual-time-budget={budget_ms}",
          Path(html_path).resolve().as_uri()], timeout_s)
    if not png_path.is_file():
        raise BrowserError("chromium wrote no screenshot")
    return png_path


def rendered_dom(html_path: Path, *, budget_ms: int = 15000, timeout_s: float = 180.0) -> str:
    """The page's DOM after its scripts ran (``--dump-dom``)."""
    return _run(["--dump-dom", f"--virtual-time-budget={budget_ms}", Path(html_path).resolve().as_uri()], timeout_s)

"""Shared test helpers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_cli(*args: str, cwd: str | Path) -> subprocess.CompletedProcess[str]:
    """Run ``journey-sim`` (``python -m simulator``) as a user would, with CI=true."""
    env = {**os.environ, "CI": "true"}
    return subprocess.run(
        [sys.executable, "-m", "simulator", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
    )

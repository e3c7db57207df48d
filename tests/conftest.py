"""Shared test helpers: paths to the bundled apps and a way to run the real `syscorr` CLI."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ROOT / "fixtures" / "apps"


def syscorr_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "syscorr", *args]


def run_syscorr(
    *args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    """Run the real CLI as a user would; returns the completed process (bytes output)."""
    return subprocess.run(
        syscorr_cmd(*args), cwd=cwd, env=env, capture_output=True, timeout=timeout
    )


@pytest.fixture
def apps() -> Path:
    return APPS


@pytest.fixture
def clean_env() -> dict:
    env = dict(os.environ)
    for key in list(env):
        if key.startswith("SYSCORR_"):
            del env[key]
    return env

"""Shared test helpers: paths to the bundled apps and a way to run the real `syscorr` CLI."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# `syscorr run` picks eBPF by itself where it can (root, BTF): the tests that are about strace
# and the pipeline keep recording with strace unless they name a backend (tests of the eBPF
# backend pass --backend ebpf; test_capture_ebpf.py tests auto explicitly).
os.environ.setdefault("SYSCORR_BACKEND", "strace")
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
        if key.startswith("SYSCORR_") and key != "SYSCORR_BACKEND":
            del env[key]
    return env


def mount_tmpfs(mount_point: Path, options: str):
    """Mount a tmpfs with `options` at `mount_point` for a test (skip where mounting is not
    allowed); a generator for fixtures to `yield from`."""
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount_point)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=True)


@pytest.fixture
def small_disk(tmp_path):
    """A 1.5 MiB tmpfs: room for an agent log's first MiB, not for its growth nor strace's log."""
    yield from mount_tmpfs(tmp_path / "small", "size=1536k,mode=0700")

"""Record fixtures/traces/<name>/: small real `syscorr run` traces of the bundled example apps.

Contract: `python scripts/record_trace_fixtures.py [--only NAME...]` runs the real
`syscorr run -s 64` (strace + agent) from the repository root on fixtures/apps/seed.py,
echo.py (--clients 2 --rounds 2) and blocking.py, and replaces fixtures/traces/<name>/ with the
new trace. The apps' stdout goes to a pipe with PYTHONUNBUFFERED=1, so each `print` is its own
write(1<pipe:[...]>) inside the step that printed (and no private terminal path is recorded).

To make the traces readable and the same on every checkout, the repository's absolute path is
removed from meta.json and strace.log (`/work/main/fixtures/apps/seed.py` becomes
`fixtures/apps/seed.py`, the directory itself becomes `.`); nothing else is changed. The
agent logs (binary) are left as written.
Re-recording changes times, pids, fds and ports: run the golden tests with
SYSCORR_UPDATE_GOLDEN=1 afterwards and review the diff.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "fixtures" / "traces"

# name -> app argv (relative to the repository root)
TRACES: dict[str, list[str]] = {
    "seed": ["fixtures/apps/seed.py"],
    "echo": ["fixtures/apps/echo.py", "--clients", "2", "--rounds", "2"],
    "blocking": ["fixtures/apps/blocking.py"],
}


def record(name: str, argv: list[str]) -> Path:
    work = Path(tempfile.mkdtemp(prefix="syscorr-fixture-"))
    trace = work / name
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    for key in [k for k in env if k.startswith("SYSCORR_")]:
        del env[key]
    cmd = [sys.executable, "-m", "syscorr", "run", "-q", "-s", "64", "-o", str(trace), *argv]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, timeout=120)
    if done.returncode != 0:
        sys.exit(f"{name}: `{' '.join(cmd)}` failed ({done.returncode}): {done.stderr.decode()}")
    target = OUT / name
    relative_trace = f"fixtures/traces/{name}"
    for path in (trace / "meta.json", trace / "strace.log"):
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
        text = text.replace(str(trace), relative_trace).replace(str(ROOT) + "/", "")
        text = text.replace(str(ROOT), ".")  # the cwd itself: `AT_FDCWD<.>`, "cwd": "."
        path.write_text(text, encoding="utf-8", errors="surrogateescape")
    if target.exists():
        shutil.rmtree(target)
    OUT.mkdir(parents=True, exist_ok=True)
    shutil.copytree(trace, target)
    shutil.rmtree(work)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=sorted(TRACES), default=None)
    opts = parser.parse_args()
    for name in opts.only or TRACES:
        target = record(name, TRACES[name])
        size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
        print(f"{target.relative_to(ROOT)}: {size} bytes")


if __name__ == "__main__":
    main()

"""Turn what the user typed after `syscorr run` into the argv to trace, checked before starting.

Contract: `resolve(argv)` returns a `Target`:
- `app.py ARGS` (a path ending in .py) runs with this interpreter (3.12+, as syscorr needs);
- `CMD ARGS` runs CMD found on PATH (or as a path).
When the program is a Python interpreter, or a script whose `#!` line names one, its version is
read and anything older than 3.12 is refused: the agent needs sys.monitoring. A missing target
raises TargetError with the fix; nothing is started but the interpreter's version query, and
not even that when the interpreter is the very file syscorr runs on (its version is known).
"""

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from syscorr.errors import TargetError, UsageError

MIN_PYTHON = (3, 12)
PYTHON_NAME = re.compile(r"^python(\d+(\.\d+)*)?(d|m|t)?$")


@dataclass(frozen=True, slots=True)
class Target:
    argv: list[str]
    display_name: str  # short name for the default trace directory
    python_version: str | None  # "3.12.1" when the target is a known Python


def resolve(argv: list[str]) -> Target:
    if not argv:
        raise UsageError("nothing to run: give a script (`syscorr run app.py`) or `-- CMD ARGS`")
    first = argv[0]
    if first.endswith(".py") and not shutil.which(first):
        script = Path(first)
        if not script.is_file():
            raise TargetError(f"target not found: {first} is not a file")
        version = _python_version(sys.executable)
        return Target([sys.executable, *argv], script.stem, version)
    exe = _find_executable(first)
    interpreter = exe if _looks_like_python(exe) else _shebang_python(exe)
    version = None
    if interpreter is not None:
        version = _python_version(interpreter)
        if version is None:
            raise TargetError(f"{interpreter} does not run as a Python interpreter")
        _require_new_enough(interpreter, version)
    name = _display_name(argv, exe, interpreter)
    return Target([first if os.sep in first else exe, *argv[1:]], name, version)


def _find_executable(name: str) -> str:
    if os.sep in name:
        path = Path(name)
        if not path.exists():
            raise TargetError(f"target not found: {name} does not exist")
        if path.is_dir() or not os.access(path, os.X_OK):
            hint = (
                f" (for a Python script: `syscorr run -- python {name}`)" if path.is_file() else ""
            )
            raise TargetError(f"target {name} is not an executable file{hint}")
        return str(path)
    found = shutil.which(name)
    if not found:
        raise TargetError(f"target not found: {name!r} is not a command on PATH")
    return found


def _looks_like_python(exe: str) -> bool:
    return bool(PYTHON_NAME.match(Path(exe).name))


def _shebang_python(exe: str) -> str | None:
    """The interpreter named by a script's `#!` line, when it is a Python."""
    try:
        with open(exe, "rb") as f:
            first = f.readline(256)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    words = first[2:].decode("utf-8", "replace").split()
    if not words:
        return None
    if Path(words[0]).name == "env" and len(words) > 1:
        candidates = [w for w in words[1:] if not w.startswith("-")]
        if not candidates:
            return None
        words = [shutil.which(candidates[0]) or candidates[0]]
    return words[0] if _looks_like_python(words[0]) else None


def _python_version(interpreter: str) -> str | None:
    if _is_this_interpreter(interpreter):
        return ".".join(str(n) for n in sys.version_info[:3])
    try:
        out = subprocess.run(
            [interpreter, "-I", "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = out.stdout.strip()
    return text if out.returncode == 0 and re.fullmatch(r"\d+\.\d+\.\d+", text) else None


def _is_this_interpreter(interpreter: str) -> bool:
    """Is `interpreter` the executable file syscorr itself runs on (symlinks followed)?"""
    if not sys.executable:
        return False
    try:
        return os.path.samefile(interpreter, sys.executable)
    except (OSError, ValueError):
        return False


def _require_new_enough(interpreter: str, version: str) -> None:
    major, minor = (int(x) for x in version.split(".")[:2])
    if (major, minor) < MIN_PYTHON:
        raise TargetError(
            f"target Python is {version} ({interpreter}): syscorr's agent needs Python 3.12+ "
            "(sys.monitoring); run the program with python3.12 or newer"
        )


def _display_name(argv: list[str], exe: str, interpreter: str | None) -> str:
    if interpreter is not None and exe == interpreter:
        for i, word in enumerate(argv[1:], 1):
            if word == "-m" and i + 1 < len(argv):
                return argv[i + 1]
            if not word.startswith("-"):
                return Path(word).stem
    return Path(exe).stem

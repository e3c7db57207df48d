"""How a violation's source file is named in output: relative to a base directory when inside it.

Contract: `display_path(filename, base)` returns `filename` relative to `base` (the current
directory, or GITHUB_WORKSPACE for annotations) when it lies inside it, else unchanged;
`location(violation, base)` is "path:line", or "path" / "?" when the line or file is unknown.
"""

import os
from pathlib import Path


def display_path(filename: str, base: str | os.PathLike | None = None) -> str:
    base_path = Path(os.path.abspath(base if base else os.getcwd()))
    path = Path(os.path.abspath(filename))
    if path.is_relative_to(base_path):  # as recorded, symlinks kept
        return str(path.relative_to(base_path))
    try:
        return str(path.resolve().relative_to(base_path.resolve()))
    except (ValueError, OSError):
        return filename


def location(violation, base=None) -> str:
    if violation.filename is None:
        return "?"
    path = display_path(violation.filename, base)
    return f"{path}:{violation.line}" if violation.line else path

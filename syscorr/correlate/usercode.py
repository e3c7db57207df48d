"""Whose code a frame is: the user's, or a library's (the standard library or an installed one).

Contract: `CodeOrigin(stdlib_dir).is_user(filename)` is False for the standard library (files
under the interpreter's library directory, as the agent recorded it in its meta, except
site-packages and dist-packages under it; frozen modules), for installed libraries (any path
through a site-packages or dist-packages directory: aiohttp, uvicorn, starlette...), and True for
everything else: the user's scripts and packages, code compiled from strings, a package of the
user's installed in editable mode (its files stay in the user's tree). A trace written before
the agent recorded its stdlib directory falls back to the shape of a CPython library path
(`.../lib/python3.N/...`). Pure; results are cached per filename.
"""

import os
import re

INSTALLED_DIRS = (os.sep + "site-packages" + os.sep, os.sep + "dist-packages" + os.sep)
_STDLIB_SHAPE = re.compile(r"[/\\]lib[/\\]python3\.\d+t?[/\\]")


class CodeOrigin:
    def __init__(self, stdlib_dir: str | None = None) -> None:
        self.stdlib_dir = stdlib_dir.rstrip("/\\") + os.sep if stdlib_dir else None
        self._cache: dict[str, bool] = {}

    def is_user(self, filename: str) -> bool:
        known = self._cache.get(filename)
        if known is None:
            known = self._cache[filename] = self._classify(filename)
        return known

    def _classify(self, filename: str) -> bool:
        if filename.startswith("<"):
            return not filename.startswith("<frozen")  # <string>, <stdin>: the user's
        if any(part in filename for part in INSTALLED_DIRS):
            return False
        if self.stdlib_dir is not None:
            return not filename.startswith(self.stdlib_dir)
        return _STDLIB_SHAPE.search(filename) is None

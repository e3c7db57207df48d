"""`syscorr run`'s usual command lines parsed without typer, so the target starts sooner.

Contract: `parse(args, environ)` takes what follows `syscorr run` and returns the `RunArgs`
typer would have made of it, or None when the line is anything but plain: an option this
parser does not know (or `--help`), a value that typer might read differently or refuse
(an empty one, one starting with "-", a number that is not plain decimal or out of range), a
combined short option (`-qo DIR`), no command to run. Then the caller hands the line to typer,
which parses, checks, explains and fails exactly as it always did. It accepts the options of
syscorr/cli/run.py as typer does (`--name VALUE`, `--name=VALUE`, `-x VALUE`, the flags and
their `--no-` forms, the last of a repeated option winning, `--backend` from $SYSCORR_BACKEND),
and stops at the first argument that is not an option (it and all after it are the command)
or at `--` (the rest is). tests/test_cli_fastpath.py checks it against typer, option by option.
Typer's import and option conversion cost ~0.3 s of CPU per `syscorr run` (measured by
scripts/bench_backends.py --breakdown), which this avoids.
"""

import re
from collections.abc import Mapping
from pathlib import Path

from syscorr.cli.run_command import RunArgs

# option -> (RunArgs field, conversion: (text) -> value or None when typer must decide)
_PLAIN_INT = re.compile(r"0|[1-9][0-9]{0,8}")
_PLAIN_FLOAT = re.compile(r"[0-9]{1,9}(\.[0-9]{1,9})?")


def _text(value: str):
    return value


def _int_between(low: int, high: int):
    def convert(value: str):
        if _PLAIN_INT.fullmatch(value) is None:
            return None
        number = int(value)
        return number if low <= number <= high else None

    return convert


def _timeout(value: str):
    if _PLAIN_FLOAT.fullmatch(value) is None:
        return None
    number = float(value)
    return number if number >= 0.001 else None


_VALUED = {
    "-o": ("output", Path), "--output": ("output", Path),
    "-e": ("syscalls", _text), "--syscalls": ("syscalls", _text),
    "-s": ("string_limit", _int_between(0, 1 << 20)),
    "--string-limit": ("string_limit", _int_between(0, 1 << 20)),
    "--wait": ("wait", _text),
    "--timeout": ("timeout", _timeout),
    "-b": ("backend", _text), "--backend": ("backend", _text),
    "--ebpf-buffer-mb": ("ebpf_buffer_mb", _int_between(1, 1024)),
}  # fmt: skip
_FLAGS = {
    "--seccomp": ("seccomp", True), "--no-seccomp": ("seccomp", False),
    "--call-sites": ("call_sites", True), "--no-call-sites": ("call_sites", False),
    "-q": ("quiet", True), "--quiet": ("quiet", True),
}  # fmt: skip
BACKEND_ENV = "SYSCORR_BACKEND"


def parse(args: list[str], environ: Mapping[str, str]) -> RunArgs | None:
    fields: dict = {}
    backend = environ.get(BACKEND_ENV)
    if backend is not None:
        if not backend:
            return None  # typer's reading of an empty variable decides
        fields["backend"] = backend
    i = 0
    while i < len(args):
        word = args[i]
        if word == "--":
            command = args[i + 1 :]
            break
        if not word.startswith("-"):
            command = args[i:]
            break
        if word == "-":
            return None
        name, eq, inline = word.partition("=")
        if name in _FLAGS and not eq:
            field, value = _FLAGS[name]
            fields[field] = value
            i += 1
            continue
        if name not in _VALUED or (eq and not name.startswith("--")):
            return None
        if eq:
            text, i = inline, i + 1
        elif i + 1 < len(args):
            text, i = args[i + 1], i + 2
        else:
            return None
        if not text or text.startswith("-"):
            return None
        field, convert = _VALUED[name]
        value = convert(text)
        if value is None:
            return None
        fields[field] = value
    else:
        return None
    if not command:
        return None
    return RunArgs(argv=list(command), **fields)

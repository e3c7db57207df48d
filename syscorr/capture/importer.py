"""`syscorr import`: turn syscall logs a user recorded themselves into a trace directory.

Contract: `import_logs(paths, output)` sniffs the format (strace with any flags, `-ff` per-thread
files, or dtruss), copies the logs byte for byte into a new private trace directory (named
`strace.log`, `strace.log.<tid>` for `-ff` files, or `dtruss.log`), writes meta.json
(kind "import", no agent), parses everything once to count what is there, and returns an
`ImportResult`. Bad input raises a SyscorrError naming the file; malformed lines are only
counted (`ParseStats`), never fatal.
"""

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import syscorr
from syscorr import TRACE_FORMAT_VERSION
from syscorr.errors import ParseError, UsageError
from syscorr.parse import ParseStats, sniff_format
from syscorr.parse.merge import tid_from_ff_name
from syscorr.trace import directory
from syscorr.trace.load import open_trace

SNIFF_LINES = 50


@dataclass(frozen=True, slots=True)
class ImportResult:
    trace: directory.TraceDir
    log_format: str
    records: dict  # record type name -> count
    unparsed_note: str | None


def _first_lines(path: Path) -> list[str]:
    lines = []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                lines.append(line)
                if len(lines) >= SNIFF_LINES:
                    break
    except IsADirectoryError:
        raise UsageError(f"{path} is a directory: give the log file(s) themselves") from None
    except FileNotFoundError:
        raise UsageError(f"{path} does not exist") from None
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from e
    return lines


def _sniff(path: Path) -> str:
    lines = _first_lines(path)
    if not any(line.strip() for line in lines):
        raise ParseError(f"{path} is empty: nothing to import")
    try:
        return sniff_format(lines)
    except ParseError as err:
        raise ParseError(f"{path}: {err}") from None


def _stored_names(paths: list[Path], log_format: str) -> list[str]:
    if log_format in ("dtruss", "dtrace"):
        return (
            [f"{log_format}.log"]
            if len(paths) == 1
            else [f"{log_format}.{i}.log" for i in range(len(paths))]
        )
    if len(paths) == 1 and tid_from_ff_name(paths[0].name) is None:
        return [directory.SYSCALL_LOG]
    names = []
    for path in paths:
        tid = tid_from_ff_name(path.name)
        if tid is None:
            raise UsageError(
                f"{path.name}: several logs must be the per-thread files of `strace -ff -o NAME` "
                "(NAME.<tid>); import other logs one at a time"
            )
        names.append(f"{directory.SYSCALL_LOG}.{tid}")
    if len(set(names)) != len(names):
        raise UsageError("two of the logs are for the same thread id: give each -ff file once")
    return names


def import_logs(paths: list[Path], output: Path | None) -> ImportResult:
    if not paths:
        raise UsageError("nothing to import: give one strace/dtruss log, or the -ff files")
    paths = [Path(p) for p in paths]
    formats = {_sniff(p) for p in paths}
    if len(formats) > 1:
        raise UsageError("the logs are of different kinds (strace and dtruss): import them apart")
    log_format = formats.pop()
    names = _stored_names(paths, log_format)
    trace = directory.create(output, name=paths[0].name)
    for source, name in zip(paths, names, strict=True):
        target = trace.path / name
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with open(source, "rb") as src, os.fdopen(fd, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    trace.write_meta(
        {
            "format_version": TRACE_FORMAT_VERSION,
            "syscorr_version": syscorr.__version__,
            "kind": "import",
            "command": None,
            "cwd": os.getcwd(),
            "imported_from": [str(p.resolve()) for p in paths],
            "backend": {
                "name": log_format,
                "version": None,
                "argv": None,
                "clock": "realtime" if log_format in ("strace", "dtrace") else "unknown",
                "log_format": log_format,
            },
            "syscall_logs": names,
            "agent": None,
            "exit": None,
        }
    )
    stats = ParseStats()
    for _ in open_trace(trace).records(stats):
        pass
    return ImportResult(trace, log_format, dict(stats.by_type), stats.summary())

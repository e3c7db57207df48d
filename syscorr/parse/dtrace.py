"""Parser for the output of syscorr's D script (syscorr/capture/dtrace/syscorr.d, macOS).

Contract: `parse_dtrace(lines)` yields one `Syscall` per `C` line and one `ExitRecord` per `X`
line (see the script's header for the fields), an `Unparsed` for any other line that is not a
comment, blank, or one of dtrace's own `dtrace: ...` messages (those are counted as Unparsed
with their reason, never fatal). Args and return are strace-style text (fds as numbers,
payloads and paths quoted with C escapes, `[{ident=7, filter=EVFILT_READ}, ...]` for kevent), so
the rest of the pipeline reads them as it reads strace's. Names lose macOS's `_nocancel`
suffix and `pread`/`pwrite` become `pread64`/`pwrite64` (the vocabulary's names); errno numbers
are macOS's (35 is EAGAIN). Timestamps are walltimestamp: CLOCK_REALTIME ns at entry.
"""

from collections.abc import Iterable, Iterator

from .records import ExitRecord, Syscall, Unparsed

HEADER = "# syscorr-dtrace"
MACOS_ERRNO = {
    1: ("EPERM", "Operation not permitted"), 2: ("ENOENT", "No such file or directory"),
    4: ("EINTR", "Interrupted system call"), 9: ("EBADF", "Bad file descriptor"),
    13: ("EACCES", "Permission denied"), 22: ("EINVAL", "Invalid argument"),
    32: ("EPIPE", "Broken pipe"), 35: ("EAGAIN", "Resource temporarily unavailable"),
    36: ("EINPROGRESS", "Operation now in progress"),
    37: ("EALREADY", "Operation already in progress"),
    38: ("ENOTSOCK", "Socket operation on non-socket"),
    48: ("EADDRINUSE", "Address already in use"),
    54: ("ECONNRESET", "Connection reset by peer"), 57: ("ENOTCONN", "Socket is not connected"),
    60: ("ETIMEDOUT", "Operation timed out"), 61: ("ECONNREFUSED", "Connection refused"),
}  # fmt: skip
KEVENT_FILTERS = {-1: "EVFILT_READ", -2: "EVFILT_WRITE", -4: "EVFILT_VNODE", -5: "EVFILT_PROC",
                  -6: "EVFILT_SIGNAL", -7: "EVFILT_TIMER", -10: "EVFILT_USER"}  # fmt: skip
RENAMED = {"pread": "pread64", "pwrite": "pwrite64", "kevent_qos": "kevent"}
DATA_CALLS = frozenset({"read", "write", "recvfrom", "sendto", "pread64", "pwrite64"})
PATH_CALLS = frozenset({"open", "execve"})


def _quoted(detail: str) -> str:
    """dtrace's %S text inside strace-style quotes (a bare `"` gets its backslash)."""
    out, escaped = [], False
    for ch in detail:
        if ch == '"' and not escaped:
            out.append("\\")
        out.append(ch)
        escaped = ch == "\\" and not escaped
    return '"' + "".join(out) + '"'


def _kevents(detail: str) -> str:
    items = []
    for part in detail.split(","):
        ident, _, flt = part.partition(":")
        if ident.lstrip("-").isdigit() and flt.lstrip("-").isdigit():
            name = KEVENT_FILTERS.get(int(flt), flt)
            items.append(f"{{ident={ident}, filter={name}}}")
    return "[" + ", ".join(items) + "]"


def _args(name: str, a0: str, a1: str, a2: str, ret: int, detail: str) -> str:
    if name in DATA_CALLS:
        data = _quoted(detail) if detail != "-" else a1
        return f"{a0}, {data}, {a2}"
    if name in PATH_CALLS:
        return f"{_quoted(detail) if detail != '-' else a0}, {a1}, {a2}"
    if name == "openat":
        return f"{a0}, {_quoted(detail) if detail != '-' else a1}, {a2}"
    if name in ("kevent", "kevent64"):
        events = _kevents(detail) if detail != "-" else "[]"
        return f"{a0}, {a1}, {a2}, {events}, {ret}"
    return f"{a0}, {a1}, {a2}"


def parse_dtrace(lines: Iterable[str], source: int = 0) -> Iterator:
    for lineno, raw in enumerate(lines, 1):
        line = raw.rstrip("\r\n")
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        try:
            if fields[0] == "C" and len(fields) >= 12:
                ts, pid, tid = int(fields[1]), int(fields[2]), int(fields[3])
                name = fields[4].removesuffix("_nocancel")
                name = RENAMED.get(name, name)
                ret, err, elapsed = int(fields[8]), int(fields[9]), int(fields[10])
                detail = "\t".join(fields[11:])
                args = _args(name, fields[5], fields[6], fields[7], ret, detail)
                if err:
                    errname, text = MACOS_ERRNO.get(err, (f"E{err}", f"errno {err}"))
                    yield Syscall(lineno, tid, ts, name, args, "-1", -1, errname, text, elapsed,
                                  False, source)  # fmt: skip
                else:
                    yield Syscall(lineno, tid, ts, name, args, str(ret), ret, None, None, elapsed,
                                  False, source)  # fmt: skip
                del pid
                continue
            if fields[0] == "X" and len(fields) >= 5:
                reason = int(fields[4])  # proc:::exit: CLD_EXITED 1, CLD_KILLED 2, CLD_DUMPED 3
                kind = "exited" if reason == 1 else "killed"
                yield ExitRecord(lineno, int(fields[3]), int(fields[1]), kind, None, None,
                                 reason == 3, source)  # fmt: skip
                continue
        except ValueError:
            yield Unparsed(lineno, line[:500], "a field is not a number", source)
            continue
        reason = "dtrace message" if line.startswith("dtrace:") else "not a syscorr-dtrace line"
        yield Unparsed(lineno, line[:500], reason, source)


def is_dtrace_log(first_lines: list[str]) -> bool:
    return any(line.startswith(HEADER) for line in first_lines[:5])

"""Typed records produced by the syscall-log parsers (strace, dtruss).

Contract: every parser yields, for each input line, exactly one of these records
(`Syscall`, `SignalRecord`, `ExitRecord`, `Unparsed`), except the first half of a split
call (`<unfinished ...>`), which is held until its `resumed>` half arrives and then
yields one `Syscall`, and lines that carry nothing (blank lines, strace's `-C` summary
table, `-k` stack lines attached to the call before them). An unfinished half that never
resumes is yielded at end of input as a `Syscall` with `unfinished=True`.

Timestamps are integers in nanoseconds on the tracer's clock (CLOCK_REALTIME for strace's
absolute stamps, relative to the first line for `-r`); `None` when the log has none.
`tid` is the thread id strace prints as "pid" (the process id for a single-threaded
program); `None` when the log was recorded without `-f`.

NamedTuples, not dataclasses: the parser creates one per line and this is its hot path.
"""

from typing import NamedTuple


class Syscall(NamedTuple):
    lineno: int  # 1-based line number of the (first half of the) call in its log
    tid: int | None  # thread id, None without -f
    ts: int | None  # entry timestamp, ns
    name: str  # syscall name as printed ("epoll_wait", "sendto", "syscall_0x1b6" for -n raw)
    args: str  # raw argument text between the parentheses, exactly as printed
    ret: str  # raw return text after "= " up to errno/duration ("3<TCP:[...]>", "-1", "?")
    retval: int | None  # integer return value (fd number for "3<...>"), None for "?"
    errno: str | None  # "EAGAIN", "ERESTARTSYS", ... or None
    errtext: str | None  # "Resource temporarily unavailable" or None
    duration: int | None  # time in the call, ns (from -T), None when absent
    unfinished: bool = False  # the call never returned in the log (process died in it)
    source: int = 0  # index of the log file it came from (for -ff sets and imports)


class SignalRecord(NamedTuple):
    lineno: int
    tid: int | None
    ts: int | None
    signame: str  # "SIGCHLD"
    info: str  # the text inside {...}, raw


class ExitRecord(NamedTuple):
    lineno: int
    tid: int | None
    ts: int | None
    kind: str  # "exited" | "killed" | "superseded" | "detached"
    code: int | None  # exit status for "exited", old pid for "superseded"
    signame: str | None  # for "killed": "SIGKILL"
    core_dumped: bool = False


class Unparsed(NamedTuple):
    lineno: int
    text: str  # the line (at most 500 characters of it)
    reason: str  # short reason: "no closing parenthesis", "invalid UTF-8", ...
    source: int = 0


Record = Syscall | SignalRecord | ExitRecord | Unparsed

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

A `<detached ...>` line yields the interrupted call (`unfinished=True`) and then an
`ExitRecord(kind="detached")`, both with that line's number. A `resumed>` half whose start is
not in the log yields a `Syscall` with `resumed_only=True` and only the resumed text as args.

NamedTuples, not dataclasses: the parser creates one per line and this is its hot path
(measured by scripts/bench_parse.py).
"""

from typing import NamedTuple

from .args import ByteString, first_string, parse_int, split_args
from .fds import FdInfo, SockAddr, first_sockaddr, parse_fd
from .waits import (
    EventList,
    epoll_events,
    epoll_events_text,
    poll_fds,
    timeout_ns,
    timeout_text_ns,
)


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
    end_lineno: int | None = None  # line of the `resumed>` half of a split call, else None
    resumed_only: bool = False  # only the `resumed>` half is in the log (ts is its print time)

    # Lazy structured access to the raw text (see syscorr/parse/args.py); nothing is
    # decoded until asked for.
    def arg_list(self) -> list[str]:
        """Top-level arguments, split at commas outside strings, brackets and braces."""
        return split_args(self.args)

    def fd(self) -> FdInfo | None:
        """The first argument as an fd with its -y/-yy decoding (None if it is no fd)."""
        return parse_fd(self.args.partition(",")[0])

    def ret_fd(self) -> FdInfo | None:
        """The return value as an fd (accept4, socket, openat) with -yy decoding."""
        return parse_fd(self.ret.partition(" ")[0]) if self.retval is not None else None

    def data(self) -> ByteString | None:
        """The first string argument decoded to bytes, with its truncation flag."""
        return first_string(split_args(self.args))

    def int_arg(self, index: int) -> int | None:
        """Argument `index` as an integer (lengths, counts, flags printed as numbers)."""
        args = split_args(self.args)
        return parse_int(args[index]) if index < len(args) else None

    def epoll_events(self) -> EventList | None:
        """Ready events of epoll_wait/epoll_pwait/epoll_pwait2: [(fd from data.u32, masks)]."""
        fast = epoll_events_text(self.name, self.args)
        return fast if fast is not None else epoll_events(self.name, split_args(self.args))

    def poll_fds(self) -> EventList | None:
        """poll/ppoll: [(fd, requested masks)]; select/pselect6: [(fd, ("in"|"out"|"except",))]."""
        return poll_fds(self.name, split_args(self.args))

    def timeout_ns(self) -> int | None:
        """The call's timeout in ns (epoll, poll, select, nanosleep, futex); FOREVER (-1) for
        an infinite wait, None when unreadable."""
        fast = timeout_text_ns(self.name, self.args)
        return fast if fast is not None else timeout_ns(self.name, split_args(self.args))

    def sockaddr(self) -> SockAddr | None:
        """The first socket address argument (connect, bind, accept4, sendto, recvfrom)."""
        return first_sockaddr(split_args(self.args))


class SignalRecord(NamedTuple):
    lineno: int
    tid: int | None
    ts: int | None
    signame: str  # "SIGCHLD"
    info: str  # the text inside {...}, raw
    source: int = 0


class ExitRecord(NamedTuple):
    lineno: int
    tid: int | None
    ts: int | None
    kind: str  # "exited" | "killed" | "superseded" | "detached"
    code: int | None  # exit status for "exited", old pid for "superseded"
    signame: str | None  # for "killed": "SIGKILL"
    core_dumped: bool = False
    source: int = 0


class Unparsed(NamedTuple):
    lineno: int
    text: str  # the line (at most 500 characters of it)
    reason: str  # short reason: "no closing parenthesis", "invalid UTF-8", ...
    source: int = 0


Record = Syscall | SignalRecord | ExitRecord | Unparsed

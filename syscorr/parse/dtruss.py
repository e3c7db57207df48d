"""Read dtruss output (macOS DTrace) into the same records as strace.

Contract: `parse_dtruss(lines, source, stats)` yields one record per line, like
`parse_strace`, for stock `dtruss`, `dtruss -f` and `dtruss -a` output:
    29738/0x5d6ef:      1178     159     89 open("/dev/x\\0", 0x2, 0x0)     = 3 0
    getpid(0x0, 0x0, 0x0)\t\t = 3734 0
- `tid` is the thread id (the hex after the pid), None without -f; the pid is not kept.
- The errno column (`Err#35`, or a bare `35` on newer macOS, `0` for success) is named with
  macOS numbering (35 = EAGAIN, 36 = EINPROGRESS, ...; 1-34 as on Linux except 11 = EDEADLK);
  `errtext` is this machine's strerror for that name.
- ELAPSD (-e, wall-clock µs in the call) becomes `duration`. RELATIVE (-d) and CPU (-o) are
  on-CPU times, not a clock: `ts` is None. Columns are read by the header when there is one,
  else three numbers are taken as RELATIVE ELAPSD CPU (the order of -a).
- The header line, blank lines and DTrace's own messages ("dtrace: error on enabled probe
  ...") are skipped and counted in `stats.skipped` ("header", "blank", "tracer message").
dtruss prints only the first few arguments, mostly as hex; `args` keeps them raw.
"""

import errno as errno_module
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator

from .records import Record, Syscall, Unparsed
from .stats import ParseStats

# "29738/0x5d6ef:" (-f), then numeric columns (-d/-e/-o), then "name(args)", tabs or
# spaces, "= ret errno". A dtruss line never has a `<unfinished ...>` half.
DTRUSS_LINE = re.compile(
    r"\s*(?:(?P<pid>\d+)/0x(?P<thread>[0-9a-fA-F]+):\s+)?"
    r"(?P<cols>(?:\d+\s+)*)"
    r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)\((?P<args>.*)\)\s+= "
    r"(?P<ret>-?\d+|0x[0-9a-fA-F]+) (?:Err#)?(?P<errno>-?\d+)\s*$"
)
DTRUSS_HEADER = re.compile(r"\s*(?:PID/THRD\s+)?(?P<cols>(?:[A-Z]+\s+)*)SYSCALL\(args\)\s+= return")
DTRACE_MESSAGE = re.compile(r"dtrace: ")
DEFAULT_COLUMNS = ("RELATIVE", "ELAPSD", "CPU")

# macOS <sys/errno.h> numbers that differ from Linux (1-34 agree except 11).
MACOS_ERRNO = {11: "EDEADLK"} | dict(enumerate(
    "EAGAIN EINPROGRESS EALREADY ENOTSOCK EDESTADDRREQ EMSGSIZE EPROTOTYPE ENOPROTOOPT "
    "EPROTONOSUPPORT ESOCKTNOSUPPORT ENOTSUP EPFNOSUPPORT EAFNOSUPPORT EADDRINUSE "
    "EADDRNOTAVAIL ENETDOWN ENETUNREACH ENETRESET ECONNABORTED ECONNRESET ENOBUFS EISCONN "
    "ENOTCONN ESHUTDOWN ETOOMANYREFS ETIMEDOUT ECONNREFUSED ELOOP ENAMETOOLONG EHOSTDOWN "
    "EHOSTUNREACH ENOTEMPTY EPROCLIM EUSERS EDQUOT ESTALE EREMOTE EBADRPC ERPCMISMATCH "
    "EPROGUNAVAIL EPROGMISMATCH EPROCUNAVAIL ENOLCK ENOSYS EFTYPE EAUTH ENEEDAUTH EPWROFF "
    "EDEVERR EOVERFLOW EBADEXEC EBADARCH ESHLIBVERS EBADMACHO ECANCELED EIDRM ENOMSG EILSEQ "
    "ENOATTR EBADMSG EMULTIHOP ENODATA ENOLINK ENOSR ENOSTR EPROTO ETIME EOPNOTSUPP "
    "ENOPOLICY ENOTRECOVERABLE EOWNERDEAD EQFULL".split(), start=35))  # fmt: skip


def macos_errno(number: int) -> tuple[str | None, str | None]:
    """(name, text) for a macOS errno number; (None, None) for 0."""
    if number <= 0:
        return None, None
    name = MACOS_ERRNO.get(number) or errno_module.errorcode.get(number) or f"E{number}"
    linux = getattr(errno_module, name, None)
    return name, os.strerror(linux) if linux is not None else None


def parse_dtruss(
    lines: Iterable[str], source: int = 0, stats: ParseStats | None = None
) -> Iterator[Record]:
    skipped = stats.skipped if stats is not None else Counter()
    columns: tuple[str, ...] | None = None
    lineno = 0
    for line in lines:
        lineno += 1
        line = line.rstrip("\r\n")
        if not line.strip():
            skipped["blank"] += 1
            continue
        m = DTRUSS_LINE.match(line)
        if m is None:
            header = DTRUSS_HEADER.match(line)
            if header is not None:
                columns = tuple(header.group("cols").split())
                skipped["header"] += 1
            elif DTRACE_MESSAGE.match(line):
                skipped["tracer message"] += 1
            else:
                yield Unparsed(lineno, line[:500], "not a dtruss syscall line", source)
            continue
        thread = m.group("thread")
        values = m.group("cols").split()
        names = columns if columns is not None else DEFAULT_COLUMNS
        duration = None
        if len(values) == len(names) and "ELAPSD" in names:
            duration = int(values[names.index("ELAPSD")]) * 1000
        ret = m.group("ret")
        retval = int(ret, 16) if ret.startswith("0x") else int(ret)
        err, errtext = macos_errno(int(m.group("errno")))
        yield Syscall(lineno, int(thread, 16) if thread else None, None, m.group("name"),
                      m.group("args"), ret, retval, err, errtext, duration, False,
                      source)  # fmt: skip

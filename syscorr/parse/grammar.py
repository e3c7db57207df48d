"""The strace line grammar as named regex fragments, each under the output it matches.

Contract: this module only defines compiled patterns and the small constants the readers in
`strace.py` use; it has no behaviour of its own. Fragments are written from strace 6.1's
output (recorded in fixtures/strace/) with notes where other versions or flags depart.

A line is   PREFIX BODY
  PREFIX = [pid column | "[pid N] "] [timestamp] ["[nr] " (-n)] ["[ip] " (-i)]
  BODY   = call | split-start | split-end | signal | exit
The hot path in `strace.py` reads a whole line with FAST_LINE (the usual shapes, in one regex
match); the other patterns serve the general readers, which take every line it refuses.
"""

import re

# `-f -o FILE`: "%-5u " then padding: "2461  epoll_wait(".
# `-Y` appends the command name: "2517<python> epoll_wait(".
PID_COLUMN = r"(?P<pid>\d+)(?:<[^>]*>)?[ ]+"

# Without -o, strace prefixes lines of every process but the first with "[pid  3292] ".
PID_BRACKET = r"\[pid[ ]+(?P<bpid>\d+)(?:<[^>]*>)?\][ ]+"

# -t "00:20:06", -tt "00:20:06.658764", -ttt "1795566007.068256",
# --absolute-timestamps=precision:ns "1795566007.272821492", -r "     0.000154" (padded).
TIMESTAMP = r"[ ]*(?P<ts>\d+(?::\d\d:\d\d)?(?:\.\d+)?)[ ]+"

# -n "[ 232] " and -i "[00007effe9d28887] ", in that order when both are given.
BRACKET_FIELDS = r"(?:\[[ 0-9a-fA-Fx?]+\][ ]+)*"

PREFIX = re.compile(f"(?:{PID_COLUMN}|{PID_BRACKET})?(?:{TIMESTAMP})?{BRACKET_FIELDS}")

# "<... epoll_wait resumed>[{events=...}], 1, -1) = 1"; strace < 5.0: "resumed> [{...".
RESUMED = re.compile(r"<\.\.\. (?P<name>[A-Za-z_][A-Za-z0-9_]*) resumed>[ ]?")
UNFINISHED = " <unfinished ...>"
DETACHED = "<detached ...>"

# "--- SIGCHLD {si_signo=SIGCHLD, ...} ---", "--- stopped by SIGSTOP ---"
SIGNAL = re.compile(
    r"--- (?:(?P<sig>SIG[A-Z0-9+]+|\d+) (?P<info>\{.*\})|stopped by (?P<stop>\S+)) ---$"
)

# "+++ exited with 0 +++", "+++ killed by SIGKILL +++", "+++ killed by SIGABRT (core dumped) +++",
# "+++ superseded by execve in pid 3089 +++"
EXIT = re.compile(
    r"\+\+\+ (?:exited with (?P<code>-?\d+)"
    r"|killed by (?P<sig>\S+)(?P<core> \(core dumped\))?"
    r"|superseded by execve in pid (?P<old>\d+)) \+\+\+$"
)

# strace's own messages spliced into a log written to stderr (no -o): "strace: Process 3293
# attached" at the end of a half-written line, which the next line then continues.
# strace names itself by argv[0] ("/usr/bin/strace: ..."); a path is assumed to have no spaces.
TRACER_MESSAGE = re.compile(r"(?:(?:/[\w.+-]+)*/)?strace: ")
TRACER_SPLICE = re.compile(r"(?:(?:/[\w.+-]+)*/)?strace: Process \d+ (?:attached|detached)$")

# The -c/-C summary table ("% time     seconds  usecs/call     calls    errors syscall"),
# its rules ("------ ----------- ...") and rows ("  0.00    0.000000  0  2  2 connect").
SUMMARY_HEADER = re.compile(r"%? *time +seconds +usecs/call +calls +errors +syscall")
SUMMARY_RULE = re.compile(r"-+( +-+)+$")
SUMMARY_ROW = re.compile(
    r" *(?P<pct>\d+\.\d+) +(?P<secs>\d+\.\d+) +(?P<usecs>\d+) +(?P<calls>\d+)"
    r"(?: +(?P<errors>\d+))? +(?P<name>\S+)$"
)

# The common line shapes in one pattern, tried first on every line (the hot path): an optional
# pid column, an optional -t/-tt ("HH:MM:SS[.frac]") or -ttt/ns/-r ("secs[.frac]") stamp, then a
# complete call `name(args) = ret [ERRNO (text)] [<secs.frac>]`, a split start
# `name(args <unfinished ...>` or a split end `<... name resumed>args) = ret ...`. It is stricter
# than the general readers (ASCII digits, fractions of 1-9 digits, no "=" after the last " = ",
# no resumed half that is unfinished), so whatever it matches they would read the same way;
# anything else (-Y, "[pid N]", -n/-i, colours, signals, exits, odd returns) goes to them.
# Optional parts are written `(?:X|)`, not `(?:X)?`: the same match, ~25% faster in `re`.
# Groups: pid, clock (HH:MM:SS), secs (-ttt/-r), stamp fraction, resumed name, name, args, ret,
# errno, errtext, duration secs, duration fraction, unfinished args.
FAST_STAMP = r"(?:([0-9][0-9]:[0-9][0-9]:[0-9][0-9])|([0-9]+))(?:\.([0-9]{1,9})|)"
FAST_RESULT = (
    r"(.*)\) * = ([^ =\r\n]+)(?: (E[A-Z0-9_]*) \(([^=\n]*)\)|)(?: <([0-9]+)\.([0-9]{1,9})>|)"
)
FAST_LINE = re.compile(
    rf"(?:([0-9]+) +|)(?:{FAST_STAMP} |)"
    r"(?:<\.\.\. ([A-Za-z_][A-Za-z0-9_]*) resumed> ?|([A-Za-z_][A-Za-z0-9_]*)\()"
    rf"(?:{FAST_RESULT}|(?(5)(?!)|(.*) <unfinished \.\.\.>))[\r\n]*\Z"
)

# strace 7 colours output unless --color=never: SGR sequences anywhere in the line.
ANSI_SGR = re.compile(r"\x1b\[[0-9;]*m")

# -k stack frames (" > /lib/libc.so.6(epoll_wait+0x13) [0x108ef3]") and -e write=/read= hex
# dumps (" | 00000  74 61 73 6b ...  task=client-0 ro |") follow the call they belong to.
STACK_LINE = " > "
HEXDUMP_LINE = " | "
# A line continuing one that a tracer message interrupted (" => {parent_tid=[3293]}, 88) = 3293").
CONTINUATION = " => "

NS_PER_DAY = 86_400 * 1_000_000_000

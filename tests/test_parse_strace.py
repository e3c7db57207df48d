"""syscorr.parse.strace over the recorded fixtures: one table row per output variant.

Fixtures are real strace 6.1 logs from scripts/capture_fixtures.py (derived ones are noted
there). Each row pins the exact record a given line must give.
"""

from collections import Counter

import pytest

from syscorr.parse import ExitRecord, SignalRecord, Syscall, Unparsed, parse_summary_table
from syscorr.parse.strace import lex_strace, parse_strace

from .test_parse_fixtures import at_line, fixture_lines, strace_records

INPROGRESS = ("-1", -1, "EINPROGRESS", "Operation now in progress")
SOCKADDR = '{{sa_family=AF_INET, sin_port=htons({}), sin_addr=inet_addr("127.0.0.1")}}'


def connect(tid, ts, fd, port, duration=None, sockaddr=None):
    """The record of line 14 of the echo fixtures: the second client's connect()."""
    args = f"{fd}, {sockaddr or SOCKADDR.format(port)}, 16"
    return Syscall(14, tid, ts, "connect", args, *INPROGRESS, duration)


# (fixture, record of line 14): one row per prefix/timestamp/decoding variant.
CONNECT_ROWS = [
    ("f_o.log", connect(3144, None, 8, 39317)),
    ("no_f.log", connect(None, None, 8, 43879)),
    ("t.log", connect(3152, 1322 * 10**9, 8, 33769)),
    ("tt.log", connect(3156, 1323_081691000, 8, 44925)),
    ("ttt.log", connect(3160, 1795566123_326113000, 8, 39073)),
    ("abs_ns.log", connect(3164, 1795566123_556163141, 8, 34791)),
    ("tt_T.log", connect(3172, 1324_014999000, 8, 35487, duration=59000)),
    ("color.log", connect(3172, 1324_014999000, 8, 35487, duration=59000)),
    ("T_ns.log", connect(3176, None, 8, 34977, duration=60942)),
    ("y.log", connect(3180, None, "8<socket:[5902]>", 34205)),
    ("yy.log", connect(3184, None, "8<TCP:[5910]>", 36959)),
    ("Y.log", connect(3212, None, 8, 35271)),
    ("n.log", connect(3216, None, 8, 35325)),
    ("i.log", connect(3220, None, 8, 36329)),
    ("s_small.log", connect(3262, None, 8, 43515)),
    (
        "X_raw.log",
        connect(
            3204,
            None,
            8,
            0,
            sockaddr='{sa_family=0x2, sin_port="\\x97\\x3b", sin_addr="\\x7f\\x00\\x00\\x01"}',
        ),
    ),  # fmt: skip
]


@pytest.mark.parametrize(("fixture", "expected"), CONNECT_ROWS, ids=[r[0] for r in CONNECT_ROWS])
def test_connect_line_of_each_variant(fixture, expected):
    records, stats = strace_records(fixture)
    assert at_line(records, 14) == [expected]
    assert stats.unparsed == 0


def test_relative_timestamps_are_summed():
    records, _ = strace_records("r.log")
    deltas = [line.split()[1] for line in fixture_lines("r.log")[:14]]
    expected = sum(int(d.replace(".", "")) * 1000 for d in deltas)
    assert at_line(records, 14)[0].ts == expected
    assert at_line(records, 14)[0].args.startswith("8, {sa_family=AF_INET, sin_port=htons(44049)")


# (fixture, line, exact record) for the line kinds beyond a plain call.
LINE_ROWS = [
    ("yy.log", 21, Syscall(21, 3184, None, "accept4",
        "6<TCP:[127.0.0.1:36959]>, 0x7fffe4826290, [16], SOCK_CLOEXEC",
        "-1", -1, "EAGAIN", "Resource temporarily unavailable", None)),
    ("n_i_tt_yy.log", 4, Syscall(4, 3224, 1326_768409000, "epoll_wait",
        "3<anon_inode:[eventpoll]>, [], 1, 0", "0", 0, None, None, None)),
    ("threads_yy.log", 15, Syscall(15, 3188, None, "accept4",
        '6<TCP:[127.0.0.1:36865]>, {sa_family=AF_INET, sin_port=htons(49978), '
        'sin_addr=inet_addr("127.0.0.1")}, [16], SOCK_CLOEXEC',
        "10<TCP:[127.0.0.1:36865->127.0.0.1:49978]>", 10, None, None, 20000, end_lineno=17)),
    ("threads_yy.log", 11, Syscall(11, 3189, None, "connect",
        '8<TCP:[5918]>, {sa_family=AF_INET, sin_port=htons(36865), '
        'sin_addr=inet_addr("127.0.0.1")}, 16', "0", 0, None, None, 342000, end_lineno=13)),
    ("pre5_resumed_space.log", 15, Syscall(15, 3188, None, "accept4",
        '6<TCP:[127.0.0.1:36865]>, {sa_family=AF_INET, sin_port=htons(49978), '
        'sin_addr=inet_addr("127.0.0.1")}, [16], SOCK_CLOEXEC',
        "10<TCP:[127.0.0.1:36865->127.0.0.1:49978]>", 10, None, None, 20000, end_lineno=17)),
    ("stderr_pid.log", 7, Syscall(7, None, None, "clone3",
        "{flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM|"
        "CLONE_SETTLS|CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID, child_tid=0x7fc2d73ff990, "
        "parent_tid=0x7fc2d73ff990, exit_signal=0, stack=0x7fc2d6bff000, stack_size=0x7fff80, "
        "tls=0x7fc2d73ff6c0} => {parent_tid=[3293]}, 88", "3293", 3293, None, None, None)),
    ("spawn.log", 50, SignalRecord(50, 3266, 1328_414188000, "SIGCHLD",
        "si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=3267, si_uid=0, si_status=0, "
        "si_utime=4 /* 0.04 s */, si_stime=3 /* 0.03 s */")),
    ("spawn.log", 49, ExitRecord(49, 3267, 1328_414172000, "exited", 0, None)),
    ("crash.log", 1, Syscall(1, 3271, None, "kill", "3271, SIGKILL", "?", None, None, None,
        None)),
    ("crash.log", 2, ExitRecord(2, 3271, None, "killed", None, "SIGKILL")),
    ("core.log", 3, ExitRecord(3, 3275, None, "killed", None, "SIGABRT", True)),
    ("supersede.log", 18, ExitRecord(18, 3279, None, "superseded", 3280, None)),
    ("supersede.log", 16, Syscall(16, 3280, None, "execve",
        '"/bin/true", ["/bin/true"], 0x7ffe43944098 /* 39 vars */', "0", 0, None, None, None,
        end_lineno=19)),
]  # fmt: skip


@pytest.mark.parametrize(("fixture", "lineno", "expected"), LINE_ROWS,
                         ids=[f"{r[0]}:{r[1]}" for r in LINE_ROWS])  # fmt: skip
def test_pinned_line(fixture, lineno, expected):
    records, _ = strace_records(fixture)
    assert expected in at_line(records, lineno)


def test_detached_gives_the_open_call_then_the_detach():
    records, _ = strace_records("detached.log")
    call = Syscall(1, None, 1330_200559000, "epoll_wait", "3,", "?", None, None, None, None,
                   True)  # fmt: skip
    assert records == [call, ExitRecord(1, None, 1330_200559000, "detached", None, None)]


def test_pre5_space_after_resumed_pairs_like_strace6():
    new, _ = strace_records("pre5_resumed_space.log")
    old, _ = strace_records("threads_yy.log")
    assert new == old


# (fixture, kind of line skipped, how many): lines that are not syscalls and not errors.
SKIP_ROWS = [
    ("C.log", "summary", 11),
    ("k.log", "stack", 61),
    ("e_write.log", "hexdump", 20),
    ("stderr_pid.log", "continuation", 4),
]


@pytest.mark.parametrize(("fixture", "kind", "count"), SKIP_ROWS, ids=[r[0] for r in SKIP_ROWS])
def test_skipped_lines_are_counted_not_unparsed(fixture, kind, count):
    _, stats = strace_records(fixture)
    assert stats.skipped[kind] == count
    assert stats.unparsed == 0


def test_counts_agree_with_strace_summary_table():
    records, _ = strace_records("C.log")
    table = parse_summary_table(fixture_lines("C.log"))
    returned = [r for r in records if isinstance(r, Syscall) and r.ret != "?"]
    calls = Counter(r.name for r in returned)
    errors = Counter(r.name for r in returned if r.errno)
    assert table
    for name, row in table.items():
        assert (calls[name], errors[name]) == (row.calls, row.errors), name
    assert set(calls) == set(table)


def test_every_unfinished_half_is_paired_in_threaded_logs():
    for fixture in ("threads_yy.log", "spawn.log", "stderr_pid.log", "supersede.log"):
        lines = fixture_lines(fixture)
        starts = sum(line.endswith("<unfinished ...>") for line in lines)
        records, stats = strace_records(fixture)
        assert stats.paired == starts, fixture
        assert not any(isinstance(r, Syscall) and (r.unfinished or r.resumed_only)
                       for r in records)  # fmt: skip


def test_lexer_without_pairing_keeps_halves():
    kinds = Counter(type(e).__name__ for e in lex_strace(fixture_lines("threads_yy.log")))
    assert kinds["SplitStart"] == kinds["SplitEnd"] == 8


def test_resumed_without_start_and_start_without_end():
    lines = ['5  <... read resumed>"ab", 2) = 2', "6  read(3,  <unfinished ...>"]
    records = list(parse_strace(lines))
    assert records == [
        Syscall(1, 5, None, "read", '"ab", 2', "2", 2, None, None, None, resumed_only=True),
        Syscall(2, 6, None, "read", "3,", "?", None, None, None, None, True),
    ]


def test_exit_closes_a_pending_call_of_its_thread():
    lines = ["7  futex(0x1, FUTEX_WAIT, 0, NULL <unfinished ...>", "7  +++ exited with 0 +++"]
    records = list(parse_strace(lines))
    assert [type(r) for r in records] == [Syscall, ExitRecord]
    assert records[0].unfinished and records[0].args == "0x1, FUTEX_WAIT, 0, NULL"


# (line, expected reason) for input that is not strace output.
BAD_ROWS = [
    ("echoed 4/4 lines over 2 connections", "not a syscall line"),
    ('1234  read(3, "abc", 3', "no ') = ' after the arguments"),
    ("1234  <... read resumed", "unrecognised line"),
    ("--- nonsense", "unrecognised signal line"),
    ("+++ exploded +++", "unrecognised exit line"),
    ("\ufffd\ufffd", "not a syscall line (invalid UTF-8)"),
]


@pytest.mark.parametrize(("line", "reason"), BAD_ROWS)
def test_bad_line_is_unparsed_with_reason(line, reason):
    assert list(parse_strace([line])) == [Unparsed(1, line, reason)]


def test_time_of_day_rolls_over_midnight():
    lines = ["1  23:59:59.900000 getpid() = 1", "1  00:00:00.100000 getpid() = 1"]
    first, second = parse_strace(lines)
    assert second.ts - first.ts == 200_000_000

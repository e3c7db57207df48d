"""Merging `-ff` per-thread files by time (syscorr.parse.merge) on the recorded ff.log.* set."""

from syscorr.parse import ExitRecord, Syscall, merge_by_time, parse_strace, parse_strace_ff
from syscorr.parse.merge import tid_from_ff_name

from .test_parse_fixtures import FIXTURES, fixture_lines

FF_FILES = sorted((FIXTURES / "strace").glob("ff.log.*"))


def ff_sets():
    return [(tid_from_ff_name(p.name), fixture_lines(p.name)) for p in FF_FILES]


def test_tid_from_file_name():
    assert tid_from_ff_name("ff.log.3285") == 3285
    assert tid_from_ff_name("trace") is None


def test_merge_keeps_every_record_in_time_order_with_file_tids():
    streams = [parse_strace(lines, index, tid) for index, (tid, lines) in enumerate(ff_sets())]
    merged = list(merge_by_time(streams))
    assert len(merged) == sum(len(lines) for _, lines in ff_sets())
    stamps = [r.ts for r in merged]
    assert stamps == sorted(stamps)
    tids = {tid for tid, _ in ff_sets()}
    assert {r.tid for r in merged} == tids
    for record in merged:  # the tid matches the file the record came from
        assert record.tid == ff_sets()[record.source][0]


def test_parse_strace_ff_equals_merge_of_parsed_files():
    streams = [parse_strace(lines, index, tid) for index, (tid, lines) in enumerate(ff_sets())]
    merged = list(merge_by_time(streams))
    assert list(parse_strace_ff(ff_sets())) == merged


def test_split_call_across_files_is_paired_after_merge():
    leader = ["10:00:00.000003 +++ superseded by execve in pid 11 +++",
              "10:00:00.000004 <... execve resumed>) = 0"]  # fmt: skip
    thread = ['10:00:00.000001 execve("/bin/true", ["/bin/true"], 0x1 <unfinished ...>']
    records = list(parse_strace_ff([(10, leader), (11, thread)]))
    assert records[0] == ExitRecord(1, 10, 36000_000003000, "superseded", 11, None)
    call = records[1]
    assert isinstance(call, Syscall) and call.tid == 11 and call.ret == "0"
    assert (call.lineno, call.source, call.end_lineno) == (1, 1, 2)


def test_ties_break_by_stream_order_and_unstamped_records_stay_in_place():
    a = ["10:00:00.000001 getpid() = 1", "garbage", "10:00:00.000002 getpid() = 1"]
    b = ["10:00:00.000001 gettid() = 2"]
    merged = list(merge_by_time([parse_strace(a, 0, 1), parse_strace(b, 1, 2)]))
    assert [(r.source, r.lineno) for r in merged] == [(0, 1), (0, 2), (1, 1), (0, 3)]

"""epoll/poll/select sets and timeouts (syscorr.parse.waits), via Syscall methods."""

import pytest

from syscorr.parse import EventList, Syscall, parse_strace
from syscorr.parse.waits import FOREVER

from .test_parse_fixtures import at_line, strace_records


def call(name: str, args: str) -> Syscall:
    return next(iter(parse_strace([f"1  {name}({args}) = 0"])))


def test_epoll_events_from_a_paired_call():
    records, _ = strace_records("threads_yy.log")
    epoll = next(r for r in records if isinstance(r, Syscall) and r.end_lineno == 14)
    assert epoll.epoll_events() == EventList([(6, ("EPOLLIN",))], False)
    assert epoll.fd().name == "eventpoll" and epoll.timeout_ns() == FOREVER


def test_truncated_epoll_array_at_small_s():
    records, _ = strace_records("s_small.log")
    events = at_line(records, 92)[0].epoll_events()
    assert events.truncated and len(events.items) == 4
    assert events.items[:2] == [(6, ("EPOLLIN",)), (7, ("EPOLLOUT",))]


def test_epoll_events_raw_masks_are_named():
    epoll = call("epoll_wait", "3, [{events=0x5, data={u32=9, u64=9}}], 4, 0")
    assert epoll.epoll_events() == EventList([(9, ("EPOLLIN", "EPOLLOUT"))], False)


TIMEOUT_ROWS = [
    ("epoll_wait", "3, [], 1, 50", 50_000_000),
    ("epoll_wait", "3, [], 1, -1", FOREVER),
    ("epoll_pwait2", "3, [], 1, {tv_sec=1, tv_nsec=5}, NULL, 8", 1_000_000_005),
    ("poll", "[{fd=3, events=POLLIN}], 1, 1000", 1_000_000_000),
    ("select", "5, [3 4], [], NULL, {tv_sec=0, tv_usec=20}", 20_000),
    ("futex", "0x1, FUTEX_WAIT_BITSET_PRIVATE, 0, NULL, FUTEX_BITSET_MATCH_ANY", FOREVER),
    ("getpid", "", None),
]


@pytest.mark.parametrize(("name", "args", "expected"), TIMEOUT_ROWS)
def test_timeout_ns(name, args, expected):
    assert call(name, args).timeout_ns() == expected


def test_poll_and_select_sets():
    poll = call("poll", "[{fd=3, events=POLLIN}, {fd=4, events=POLLIN|POLLOUT}], 2, 0")
    assert poll.poll_fds() == EventList([(3, ("POLLIN",)), (4, ("POLLIN", "POLLOUT"))], False)
    select = call("select", "5, [3 4], [4], NULL, NULL")
    assert select.poll_fds() == EventList([(3, ("in",)), (4, ("in",)), (4, ("out",))], False)


def test_data_and_lengths_of_a_recorded_sendto():
    records, _ = strace_records("threads_yy.log")
    send = next(r for r in records if isinstance(r, Syscall) and '"task=' in r.args)
    data = send.data()
    assert data.data.startswith(b"task=w") and data.data.endswith(b" from-thread\n")
    assert send.int_arg(2) == len(data.data) == send.retval
    assert send.fd().kind == "TCP" and send.fd().remote.host == "127.0.0.1"


def _every_wait_in_the_fixtures():
    from pathlib import Path

    for path in sorted((Path(__file__).parent.parent / "fixtures" / "strace").iterdir()):
        records, _ = strace_records(path.name)
        for record in records:
            if isinstance(record, Syscall) and record.name in (
                "epoll_wait",
                "epoll_pwait",
                "epoll_pwait2",
                "poll",
            ):
                yield path.name, record


def test_the_text_fast_paths_agree_with_the_general_readers():
    """epoll events and timeouts read straight from the text (the shape syscorr run writes)
    must equal what the general readers make of the split arguments, on every fixture."""
    from syscorr.parse.args import split_args
    from syscorr.parse.waits import epoll_events, epoll_events_text, timeout_ns, timeout_text_ns

    fast_events = fast_timeouts = 0
    for name, call in _every_wait_in_the_fixtures():
        args = split_args(call.args)
        events = epoll_events_text(call.name, call.args)
        if events is not None:
            fast_events += 1
            assert events == epoll_events(call.name, args), (name, call.lineno)
        timeout = timeout_text_ns(call.name, call.args)
        if timeout is not None:
            fast_timeouts += 1
            assert timeout == timeout_ns(call.name, args), (name, call.lineno)
        assert call.epoll_events() == epoll_events(call.name, args)
        assert call.timeout_ns() == timeout_ns(call.name, args)
    assert fast_events > 100 and fast_timeouts > 100  # the fast paths are really taken


@pytest.mark.parametrize("text", [
    "3<anon_inode:[eventpoll]>, [{events=EPOLLIN, data={u32=7, u64=7}}, ...], 32, 0",
    "3, [{events=0x1, data={u32=7, u64=7}}], 2, -1",
    "3, [{events=EPOLLIN, data={u32=7, u64=140737488355335}}], 2, 100",
])  # fmt: skip
def test_other_shapes_fall_back_to_the_general_reader(text):
    from syscorr.parse.args import split_args
    from syscorr.parse.waits import epoll_events, epoll_events_text

    fast = epoll_events_text("epoll_wait", text)
    assert fast is None or fast == epoll_events("epoll_wait", split_args(text))

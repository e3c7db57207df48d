"""What a waiting call waited for: epoll/poll/select fd sets and timeouts.

Contract: pure functions over a call's name and split arguments (`args.split_args`).
- `epoll_events` (epoll_wait, epoll_pwait, epoll_pwait2): the ready events as an `EventList`
  of (fd, mask names); the fd is `data.u32`, where CPython stores it. `truncated` is True when
  strace cut the array (`..., ...]` at -s). Raw masks (-X raw: `events=0x1`) are named.
- `poll_fds` (poll, ppoll): requested (fd, masks); (select, pselect6): (fd, ("in",)) etc.
- `timeout_ns`: the timeout in ns, `FOREVER` (-1) for an infinite wait, None when the call
  has no timeout argument or it is unreadable.
Anything else gives None.
"""

import re
from typing import NamedTuple

from .args import field_value, parse_int, split_args, struct_fields
from .vocabulary import EPOLL_WAITS

FOREVER = -1

EPOLL_BITS = {
    0x001: "EPOLLIN", 0x002: "EPOLLPRI", 0x004: "EPOLLOUT", 0x008: "EPOLLERR",
    0x010: "EPOLLHUP", 0x020: "EPOLLNVAL", 0x040: "EPOLLRDNORM", 0x080: "EPOLLRDBAND",
    0x100: "EPOLLWRNORM", 0x200: "EPOLLWRBAND", 0x400: "EPOLLMSG", 0x2000: "EPOLLRDHUP",
    1 << 28: "EPOLLEXCLUSIVE", 1 << 29: "EPOLLWAKEUP", 1 << 30: "EPOLLONESHOT",
    1 << 31: "EPOLLET",
}  # fmt: skip

# call name -> (index of the timeout argument, unit): "ms" int, "ts" timespec, "tv" timeval
TIMEOUT_ARG = {
    "epoll_wait": (3, "ms"), "epoll_pwait": (3, "ms"), "epoll_pwait2": (3, "ts"),
    "poll": (2, "ms"), "ppoll": (2, "ts"), "select": (4, "tv"), "pselect6": (4, "ts"),
    "nanosleep": (0, "ts"), "clock_nanosleep": (2, "ts"), "futex": (3, "ts"),
    "rt_sigtimedwait": (2, "ts"), "io_getevents": (4, "ts"),
}  # fmt: skip
_TIME = re.compile(r"tv_sec=(-?\d+),\s*tv_(n|u)sec=(\d+)")


class EventList(NamedTuple):
    items: list[tuple[int, tuple[str, ...]]]
    truncated: bool


def mask_names(text: str, bits: dict[int, str]) -> tuple[str, ...]:
    """`EPOLLIN|EPOLLOUT` or `0x5` (raw) or `0x1 /* EPOLLIN */` (verbose) -> names."""
    text = field_value(text)
    if text[:2] == "0x":
        value = parse_int(text) or 0
        names = [name for bit, name in bits.items() if value & bit]
        rest = value & ~sum(bits)
        return (*names, hex(rest)) if rest else tuple(names)
    return tuple(name for name in text.split("|") if name)


def _items(array: str) -> tuple[list[str], bool] | None:
    array = array.strip()
    if array[:1] != "[" or array[-1:] != "]":
        return None
    items = split_args(array[1:-1])
    truncated = bool(items) and items[-1] == "..."
    return (items[:-1] if truncated else items), truncated


def _struct_events(text: str, fd_text, event_names) -> EventList | None:
    """An array of structs (`[{...}, {...}]`, maybe truncated) as (fd, event names) pairs:
    `fd_text(fields)` finds the fd's text in one struct's fields, `event_names(text)` names the
    bits of its `events` field; structs without a readable fd are left out."""
    parsed = _items(text)
    if parsed is None:
        return None
    items, truncated = parsed
    out = []
    for item in items:
        fields = struct_fields(item)
        fd = parse_int(fd_text(fields))
        if fd is not None:
            out.append((fd, event_names(fields.get("events", ""))))
    return EventList(out, truncated)


def epoll_events(name: str, args: list[str]) -> EventList | None:
    if name not in EPOLL_WAITS or len(args) < 2:
        return None
    return _struct_events(
        args[1],
        lambda fields: struct_fields(fields.get("data", "")).get("u32", ""),
        lambda events: mask_names(events, EPOLL_BITS),
    )


def poll_fds(name: str, args: list[str]) -> EventList | None:
    if name in ("poll", "ppoll") and args:
        return _struct_events(
            args[0],
            lambda fields: fields.get("fd", ""),
            lambda events: tuple(n for n in events.split("|") if n),
        )
    if name in ("select", "pselect6") and len(args) >= 4:
        out = []
        for index, kind in ((1, "in"), (2, "out"), (3, "except")):
            text = args[index].strip()
            if text[:1] == "[" and text[-1:] == "]":
                out += [(int(fd), (kind,)) for fd in text[1:-1].split() if fd.isdecimal()]
        return EventList(sorted(out), False)
    return None


# The default rendering of one ready epoll event: `{events=EPOLLIN|EPOLLOUT, data={u32=7, u64=7}}`.
_EPOLL_ITEM = re.compile(r"\{events=([A-Z|]+), data=\{u32=(\d+), u64=\d+\}\}")
_EPOLL_FD_PREFIX = re.compile(r"\d+(?:<[^>]*>)?, \[")


def epoll_events_text(name: str, text: str) -> EventList | None:
    """`epoll_events` straight from the raw argument text, for the default rendering only
    (every item `{events=NAMES, data={u32=N, u64=M}}`, the array not cut). None means: not
    this shape, ask `epoll_events` (which reads every variant)."""
    if name not in EPOLL_WAITS:
        return None
    head = _EPOLL_FD_PREFIX.match(text)
    if head is None:
        return None
    end = text.find("]", head.end())
    if end < 0:
        return None
    array = text[head.end() : end]
    items = _EPOLL_ITEM.findall(array)
    if len(items) != array.count("{events=") or "..." in array:
        return None
    return EventList([(int(fd), tuple(events.split("|"))) for events, fd in items], False)


def timeout_text_ns(name: str, text: str) -> int | None:
    """`timeout_ns` of epoll_wait/poll from the raw text: their timeout is the last argument,
    in ms. None means: ask `timeout_ns`."""
    if name != "epoll_wait" and name != "poll":
        return None
    last = text.rpartition(", ")[2]
    if last.isdecimal():
        return int(last) * 1_000_000
    if last[:1] == "-" and last[1:].isdecimal():
        return FOREVER
    return None


def timeout_ns(name: str, args: list[str]) -> int | None:
    spec = TIMEOUT_ARG.get(name)
    if spec is None or spec[0] >= len(args):
        return None
    index, unit = spec
    text = args[index].strip()
    if unit == "ms":
        ms = parse_int(text)
        return None if ms is None else (FOREVER if ms < 0 else ms * 1_000_000)
    if text == "NULL":
        return FOREVER
    m = _TIME.search(text)
    if m is None:
        return None
    sub = int(m.group(3)) * (1 if m.group(2) == "n" else 1000)
    return int(m.group(1)) * 1_000_000_000 + sub

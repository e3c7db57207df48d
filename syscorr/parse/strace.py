"""Read strace output: lines in, typed records out. Pure and streaming; never raises on input.

Contract:
- `lex_strace(lines, source, tid, stats)` reads each line once and yields, per line, one
  `Syscall`, `SignalRecord`, `ExitRecord` or `Unparsed` — or, for split calls, a `SplitStart`
  (`name(args <unfinished ...>`) or a `SplitEnd` (`<... name resumed>rest) = ret`). A
  `<detached ...>` line yields the interrupted call (unfinished) and then `ExitRecord("detached")`.
- `pair_calls(events, stats)` joins each thread's `SplitStart` with its next `SplitEnd` into one
  `Syscall` (entry time and line from the start, result from the end, `end_lineno` set). A
  start still open when its thread exits, or at end of input, becomes `Syscall(unfinished=True)`.
  An end without a start becomes `Syscall(resumed_only=True)` holding only the resumed text.
- `parse_strace` = `pair_calls(lex_strace(...))` (the pairing fused into the lexer's loop).
- Lines that carry nothing are skipped and counted in `stats.skipped` by kind: "blank",
  "summary" (the -c/-C table), "stack" (-k), "hexdump" (-e write=/read=), "tracer message"
  (`strace: Process N attached` in a log written to stderr), "continuation" (the rest of a
  line such a message interrupted; it is joined to its first part, which keeps its line number).
- Timestamps: -ttt and ns stamps become ns since the epoch; -t/-tt become ns since midnight
  (the log has no date; a step back of more than 12 h is taken as a new day); -r deltas are
  summed, so stamps are ns since the first line. Durations (-T, µs or ns) become ns.
- Lines are str; decode files with errors="replace" (strace escapes non-ASCII bytes itself,
  so only foreign text spliced into a stderr log can be invalid UTF-8).
- Speed (scripts/bench_parse.py): one regex match (grammar.FAST_LINE) reads the usual lines
  whole; the general readers take the rest and read those lines the same way (pinned by
  tests/test_parse_fastpath.py).
"""

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from .grammar import (
    ANSI_SGR,
    CONTINUATION,
    DETACHED,
    EXIT,
    FAST_LINE,
    HEXDUMP_LINE,
    NS_PER_DAY,
    PREFIX,
    RESUMED,
    SIGNAL,
    STACK_LINE,
    SUMMARY_HEADER,
    SUMMARY_ROW,
    SUMMARY_RULE,
    TRACER_MESSAGE,
    TRACER_SPLICE,
    UNFINISHED,
)
from .records import ExitRecord, Record, SignalRecord, Syscall, Unparsed
from .stats import ParseStats

TEXT_LIMIT = 500
DIGITS = frozenset("0123456789")
# ns per unit of the last digit of a fraction of n digits (n <= 9): "000041" -> 1000
FRACTION_NS = [10 ** (9 - n) for n in range(10)]


class SplitStart(NamedTuple):
    """First half of a split call: `epoll_wait(3,  <unfinished ...>` (args keep their tail)."""

    lineno: int
    tid: int | None
    ts: int | None
    name: str
    args: str
    source: int


class SplitEnd(NamedTuple):
    """Second half: `<... epoll_wait resumed>[], 1, -1) = 0`; args_tail is the text before `)`."""

    lineno: int
    tid: int | None
    ts: int | None
    name: str
    args_tail: str
    ret: str
    retval: int | None
    errno: str | None
    errtext: str | None
    duration: int | None
    detached: bool
    source: int


def split_result(text: str):
    """`args) = ret [ERRNO (text)] [<dur>]` -> (args, ret, retval, errno, errtext, duration).

    None when there is no `) = `. Padding between `)` and `=` is allowed (strace aligns `=`).
    """
    eq = text.rfind(" = ")
    if eq < 0:
        return None
    close = text.rfind(")", 0, eq)
    if close < 0 or (close + 1 != eq and not text[close + 1 : eq].isspace()):
        return None
    tail = text[eq + 3 :]
    duration = None
    if tail[-1:] == ">":
        lt = tail.rfind(" <")
        if lt >= 0:
            secs, dot, frac = tail[lt + 2 : -1].partition(".")
            if dot and secs.isdecimal() and frac.isdecimal():
                duration = int(secs + (frac + "000000000")[:9])
                tail = tail[:lt]
            elif secs == "unavailable":
                tail = tail[:lt]
    sp = tail.find(" ")
    errno = errtext = None
    if sp < 0:
        token = ret = tail
    else:
        token = tail[:sp]
        rest = tail[sp + 1 :]
        ret = tail
        if rest[:1] == "E":
            paren = rest.find(" (")
            if paren > 0 and rest[-1] == ")" and rest[:paren].isupper():
                errno, errtext, ret = rest[:paren], rest[paren + 2 : -1], token
            elif " " not in rest and rest.isupper():
                errno, ret = rest, token
    return text[:close], ret, _retval(token), errno, errtext, duration


def _retval(token: str) -> int | None:
    """`3`, `-1`, `0x7f00`, `9<TCP:[...]>` -> int; `?` -> None."""
    lt = token.find("<")
    if lt > 0:
        token = token[:lt]
    if token.isdecimal() or (token[:1] == "-" and token[1:].isdecimal()):
        return int(token)
    if token[:2] == "0x":
        try:
            return int(token, 16)
        except ValueError:
            return None
    return None


def _unparsed(lineno: int, line: str, reason: str, source: int) -> Unparsed:
    if "\ufffd" in line or any(0xD800 <= ord(c) <= 0xDFFF for c in line[:TEXT_LIMIT]):
        reason = f"{reason} (invalid UTF-8)"
    return Unparsed(lineno, line[:TEXT_LIMIT], reason, source)


def lex_strace(
    lines: Iterable[str], source: int = 0, tid: int | None = None, stats: ParseStats | None = None
) -> Iterator[Record | SplitStart | SplitEnd]:
    """One record per line (see the module contract). `tid` is the thread of a `-ff` file."""
    return _lex(lines, source, tid, stats, FAST_LINE.match, None)


def parse_strace(
    lines: Iterable[str], source: int = 0, tid: int | None = None, stats: ParseStats | None = None
) -> Iterator[Record]:
    """Records of a strace log, split calls paired. `tid` for a `-ff` per-thread file.

    The same records as `pair_calls(lex_strace(...))`, with the pairing done in the lexer's loop.
    """
    return _lex(lines, source, tid, stats, FAST_LINE.match, {})


def _lex(lines, source, tid, stats, fast_match, pending):
    """`lex_strace`, or `parse_strace` when `pending` (the open split calls by thread) is a dict.

    `fast_match` reads the common shapes in one step; the general readers below read every
    line it does not match (tests hand in one that never matches, to compare the two)."""
    skipped = stats.skipped if stats is not None else Counter()
    match_prefix = PREFIX.match
    new = tuple.__new__
    digits = DIGITS
    scale = FRACTION_NS
    pairing = pending is not None
    # Clock state: "" until the first stamp, then "clock" (-t/-tt), "epoch" (-ttt, ns) or
    # "relative" (-r, summed). For clock stamps the ns of the current second is cached.
    clock_kind, second_text, second_ns, day, last_ts = "", "", 0, 0, 0
    whole_text, whole_ns = "", 0  # the same cache for the whole seconds of -ttt/ns/-r stamps
    carry = None
    carry_lineno = 0
    in_summary = False
    fast_ok = True  # no carried half line and not inside a summary table
    lineno = 0
    for line in lines:
        lineno += 1
        if fast_ok and "\x1b" not in line and (fast := fast_match(line)) is not None:
            # The hot path: FAST_LINE read the line as the general readers below would.
            (pid, clock, secs, fraction, resumed, name, args, ret, errno, errtext, took, took_frac,
             opened) = fast.groups()  # fmt: skip
            thread = tid if pid is None else int(pid)
            if clock is not None:
                if clock != second_text:
                    hours, minutes, seconds = clock.split(":")
                    second_text = clock
                    second_ns = (int(hours) * 3600 + int(minutes) * 60 + int(seconds)) * 10**9
                    second_ns += day
                if fraction is None:
                    ts = second_ns
                else:
                    ts = second_ns + int(fraction) * scale[len(fraction)]
                if ts < last_ts and ts < last_ts - NS_PER_DAY // 2:  # no date: past midnight
                    day += NS_PER_DAY
                    second_ns += NS_PER_DAY
                    ts += NS_PER_DAY
                last_ts = ts
            elif secs is not None:
                if secs != whole_text:
                    whole_text, whole_ns = secs, int(secs) * 10**9
                if fraction is None:
                    ts = whole_ns
                else:
                    ts = whole_ns + int(fraction) * scale[len(fraction)]
                if clock_kind != "epoch":
                    if not clock_kind:
                        clock_kind = "relative" if len(secs) < 9 else "epoch"
                    if clock_kind == "relative":
                        last_ts = ts = last_ts + ts
            else:
                ts = None
            if opened is not None:
                start = new(SplitStart, (lineno, thread, ts, name, opened, source))
                if not pairing:
                    yield start
                    continue
                older = pending.pop(thread, None)
                pending[thread] = start
                if older is not None:
                    yield _open_call(older)
                continue
            duration = None if took is None else int(took + took_frac) * scale[len(took_frac)]
            retval = int(ret) if ret.isdecimal() else _retval(ret)
            if resumed is None:
                yield new(Syscall, (lineno, thread, ts, name, args, ret, retval, errno, errtext,
                                    duration, False, source, None, False))  # fmt: skip
                continue
            if pairing:
                start = pending.pop(thread, None)
                if start is not None and start[3] == resumed:  # _pair() for the usual case
                    opening = start[4]
                    if args[:1] == " " and opening[-1:] == " ":
                        args = args[1:]  # strace < 5.0 printed a space after "resumed>"
                    yield new(Syscall, (start[0], start[1], start[2], resumed, opening + args, ret,
                                        retval, errno, errtext, duration, False, start[5], lineno,
                                        False))  # fmt: skip
                    continue
                if start is not None:
                    pending[thread] = start
            end = new(SplitEnd, (lineno, thread, ts, resumed, args, ret, retval, errno, errtext,
                                 duration, False, source))  # fmt: skip
            if pairing:
                yield from _pair(end, pending)
            else:
                yield end
            continue
        # The general readers: every variant, every odd line.
        line = line.rstrip("\r\n")
        if carry is not None:
            skipped["continuation"] += 1
            line, carry = carry + line, None
            fast_ok = not in_summary
            at = carry_lineno
        else:
            at = lineno
        if not line:
            skipped["blank"] += 1
            continue
        first = line[0]
        if first == " " or first == "%" or in_summary:
            if line.startswith(STACK_LINE):
                skipped["stack"] += 1
                continue
            if line.startswith(HEXDUMP_LINE):
                skipped["hexdump"] += 1
                continue
            if SUMMARY_HEADER.match(line) or (
                in_summary and (SUMMARY_RULE.match(line) or SUMMARY_ROW.match(line))
            ):
                in_summary, fast_ok = True, False
                skipped["summary"] += 1
                continue
            in_summary, fast_ok = False, True
            if line.startswith(CONTINUATION):
                yield _unparsed(at, line, "continuation of a line that is not in the log", source)
                continue
        if "\x1b" in line:
            line = ANSI_SGR.sub("", line)
            first = line[:1]
        if "strace: " in line:
            spliced = TRACER_SPLICE.search(line)
            if spliced is not None and spliced.start() > 0:
                carry, carry_lineno = line[: spliced.start()], at
                fast_ok = False
                continue
            if TRACER_MESSAGE.match(line):
                skipped["tracer message"] += 1
                continue
        # Prefix: "PID  STAMP body", "PID  body", "STAMP body" or "body"; the regex reads the
        # rest (-Y comm, "[pid N]", -n/-i brackets, -r padding, anything odd).
        thread, stamp, body = tid, None, line
        if first in digits:
            sp = line.find(" ")
            head = line[:sp]
            if head.isdecimal():
                thread = int(head)
                body = line[sp + 1 :].lstrip(" ")
                if body[:1] in digits:
                    sp = body.find(" ")
                    stamp, body = body[:sp], body[sp + 1 :]
            else:
                stamp, body = head, line[sp + 1 :]
            if body[:1] == "[" or "<" in head or sp < 0:
                body = None
        elif first == "[" or first == " ":
            body = None
        if body is None:
            m = match_prefix(line)
            pid, bpid, stamp = m.groups()
            thread = int(pid or bpid) if (pid or bpid) else tid
            body = line[m.end() :]
        ts = None
        if stamp is not None:
            try:
                if stamp[2:3] == ":":
                    if stamp[:8] != second_text:
                        hours, minutes, seconds = stamp[:8].split(":")
                        second_text = stamp[:8]
                        second_ns = (int(hours) * 3600 + int(minutes) * 60 + int(seconds)) * 10**9
                        second_ns += day
                    ts = second_ns + _fraction_ns(stamp[9:]) if len(stamp) > 9 else second_ns
                    if ts < last_ts and ts < last_ts - NS_PER_DAY // 2:  # no date: past midnight
                        day += NS_PER_DAY
                        second_ns += NS_PER_DAY
                        ts += NS_PER_DAY
                    last_ts = ts
                else:
                    whole, _, fraction = stamp.partition(".")
                    ts = int(whole + (fraction + "000000000")[:9])
                    if not clock_kind:
                        clock_kind = "relative" if len(whole) < 9 else "epoch"
                    if clock_kind == "relative":
                        last_ts = ts = last_ts + ts
            except ValueError:
                yield _unparsed(at, line, "unreadable timestamp", source)
                continue
        if pairing:
            for event in _read_body(at, thread, ts, body, line, source):
                yield from _pair(event, pending)
        else:
            yield from _read_body(at, thread, ts, body, line, source)
    if carry is not None:
        yield _unparsed(carry_lineno, carry, "cut by a tracer message, never continued", source)
    if pairing:
        yield from _close_all(pending)


def _fraction_ns(digits: str) -> int:
    """The fraction of a second written after the dot, in ns (digits beyond ns are cut)."""
    value = int(digits)
    return (
        value * FRACTION_NS[len(digits)] if len(digits) <= 9 else value // 10 ** (len(digits) - 9)
    )


def _read_body(at, thread, ts, body: str, line: str, source: int) -> tuple:
    """The events of one line after its prefix (the general reader of bodies)."""
    kind = body[:1]
    if kind == "<":
        resumed = RESUMED.match(body)
        if resumed is None:
            return (_unparsed(at, line, "unrecognised line", source),)
        name = resumed.group(1)
        rest = body[resumed.end() :]
        if rest.endswith(DETACHED):
            return (SplitEnd(at, thread, ts, name, rest[: -len(DETACHED)].rstrip(" "), "?", None,
                             None, None, None, True, source),
                    ExitRecord(at, thread, ts, "detached", None, None, False, source))  # fmt: skip
        result = split_result(rest)
        if result is None:
            return (_unparsed(at, line, "resumed call without ') = '", source),)
        return (SplitEnd(at, thread, ts, name, *result, False, source),)
    if kind == "-":
        sig = SIGNAL.match(body)
        if sig is None:
            return (_unparsed(at, line, "unrecognised signal line", source),)
        if sig.group("stop"):
            return (SignalRecord(at, thread, ts, sig.group("stop"), "stopped", source),)
        return (SignalRecord(at, thread, ts, sig.group("sig"), sig.group("info")[1:-1], source),)
    if kind == "+":
        ex = EXIT.match(body)
        if ex is None:
            return (_unparsed(at, line, "unrecognised exit line", source),)
        if ex.group("code") is not None:
            return (ExitRecord(at, thread, ts, "exited", int(ex.group("code")), None, False,
                               source),)  # fmt: skip
        if ex.group("old") is not None:
            return (ExitRecord(at, thread, ts, "superseded", int(ex.group("old")), None, False,
                               source),)  # fmt: skip
        core = ex.group("core") is not None
        return (ExitRecord(at, thread, ts, "killed", None, ex.group("sig"), core, source),)
    paren = body.find("(")
    name = body[:paren]
    if paren <= 0 or not name.isidentifier():
        return (_unparsed(at, line, "not a syscall line", source),)
    if body.endswith(UNFINISHED):
        return (SplitStart(at, thread, ts, name, body[paren + 1 : -len(UNFINISHED)], source),)
    if body.endswith(DETACHED):
        args = body[paren + 1 : -len(DETACHED)].rstrip(" ")
        return (Syscall(at, thread, ts, name, args, "?", None, None, None, None, True, source),
                ExitRecord(at, thread, ts, "detached", None, None, False, source))  # fmt: skip
    result = split_result(body[paren + 1 :])
    if result is None:
        return (_unparsed(at, line, "no ') = ' after the arguments", source),)
    return (Syscall(at, thread, ts, name, *result, False, source),)


def _open_call(start: SplitStart) -> Syscall:
    return Syscall(start.lineno, start.tid, start.ts, start.name, start.args.rstrip(" "), "?",
                   None, None, None, None, True, start.source)  # fmt: skip


def _pair(event, pending: dict) -> tuple | list:
    """What `pair_calls` yields for one event; `pending` holds the open starts by thread."""
    kind = type(event)
    if kind is SplitStart:
        older = pending.pop(event.tid, None)
        pending[event.tid] = event
        return () if older is None else (_open_call(older),)
    if kind is SplitEnd:
        start = pending.pop(event.tid, None)
        if start is None or start.name != event.name:
            head = (event.lineno, event.tid, event.ts, event.name, event.args_tail)
            alone = tuple.__new__(Syscall, (*head, *event[5:11], event.source, None, True))
            return (alone,) if start is None else (_open_call(start), alone)
        tail = event.args_tail
        if tail[:1] == " " and start.args[-1:] == " ":
            tail = tail[1:]  # strace < 5.0 printed a space after "resumed>"
        return (tuple.__new__(Syscall, (start.lineno, start.tid, start.ts, start.name,
                                        start.args + tail, *event[5:11], start.source,
                                        event.lineno, False)),)  # fmt: skip
    if kind is ExitRecord and event.kind != "detached":
        out = []
        own = pending.pop(event.tid, None)
        if own is not None:
            out.append(_open_call(own))
        if event.kind == "superseded":
            execing = pending.pop(event.code, None)
            if execing is not None:  # execve resumes under the thread group leader's id
                pending[event.tid] = execing
        out.append(event)
        return out
    return (event,)


def _close_all(pending: dict) -> list[Syscall]:
    """The starts never resumed, as unfinished calls in line order."""
    return [_open_call(start) for start in sorted(pending.values(), key=lambda s: s.lineno)]


def pair_calls(
    events: Iterable[Record | SplitStart | SplitEnd], stats: ParseStats | None = None
) -> Iterator[Record]:
    """Join split halves per thread (see the module contract); other records pass through."""
    pending: dict[int | None, SplitStart] = {}
    for event in events:
        if type(event) is Syscall:
            yield event
        else:
            yield from _pair(event, pending)
    yield from _close_all(pending)

"""Structured reading of strace's argument text, done lazily when a caller asks.

Contract: pure functions from the raw text strace printed to Python values; malformed text
gives None (or a best-effort value), never an exception.
- `split_args`: top-level arguments, split at commas outside "strings", [], {}, () and the
  `<...>` fd decorations of -y/-yy (`7<TCP:[1.2.3.4:5->6.7.8.9:10]>`).
- `decode_string`: a C string as strace prints it (octal escapes, \\n-style escapes, -x/-xx
  `\\xHH`) to bytes, with `truncated=True` for `"..."...` (string cut at -s).
- `parse_int`: numbers (`832`, `0x1b`, `[16]`, `[128 => 2]` -> 2, `7<...>` -> 7).
Richer readers live in `fds.py` (fds and socket addresses) and `waits.py` (epoll/poll/select
events and timeouts); `Syscall` methods in records.py call them.
"""

import re
from typing import NamedTuple

# A quoted string (with escapes) or one of the characters that nest or separate arguments.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}()<>,]')
_CLOSER = {"[": "]", "{": "}", "(": ")", "<": ">"}
# \ooo (1-3 octal digits), \xHH, or one of \n \t \r \v \f \\ \" \'
_ESCAPE = re.compile(rb"\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|.)", re.DOTALL)
_SIMPLE = {
    b"n": b"\n",
    b"t": b"\t",
    b"r": b"\r",
    b"v": b"\v",
    b"f": b"\f",
    b"a": b"\a",
    b"b": b"\b",
}


class ByteString(NamedTuple):
    data: bytes
    truncated: bool  # strace printed `"..."...`: the buffer was longer than -s


def split_args(text: str) -> list[str]:
    """Top-level arguments with surrounding spaces removed; [] for empty text."""
    if not text.strip():
        return []
    out: list[str] = []
    stack: list[str] = []
    start = 0
    for m in _TOKEN.finditer(text):
        token = m.group()
        if len(token) > 1:
            continue  # a string: nothing inside it counts
        if token == ",":
            if not stack:
                out.append(text[start : m.start()].strip())
                start = m.end()
        elif token == "<":
            if m.start() > 0 and text[m.start() - 1].isdigit():
                stack.append(">")
        elif token in _CLOSER:
            stack.append(_CLOSER[token])
        elif stack and stack[-1] == token:
            stack.pop()
    out.append(text[start:].strip())
    return out


def _unescape(match: re.Match[bytes]) -> bytes:
    code = match.group(1)
    if code[:1] == b"x" and len(code) == 3:
        return bytes([int(code[1:], 16)])
    if code[:1].isdigit() and code[:1] < b"8":
        return bytes([int(code, 8) & 0xFF])
    return _SIMPLE.get(code, code)


def decode_string(text: str) -> ByteString | None:
    """`"a\\nb"` -> ByteString(b"a\\nb", False); `"abc"...` -> truncated; None if not a string."""
    text = text.strip()
    truncated = text.endswith('"...')
    if truncated:
        text = text[:-3]
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        return None
    raw = text[1:-1].encode("utf-8", "surrogateescape")
    if b"\\" in raw:
        raw = _ESCAPE.sub(_unescape, raw)
    return ByteString(raw, truncated)


def first_string(args: list[str]) -> ByteString | None:
    """The first argument that is a quoted string (the data of read/write/sendto/...)."""
    for arg in args:
        if arg[:1] == '"':
            return decode_string(arg)
    return None


def parse_int(text: str) -> int | None:
    """An integer argument; `[in => out]` gives out; decorations and comments are ignored."""
    text = text.strip()
    if text[:1] == "[" and text[-1:] == "]":
        text = text[1:-1].rpartition("=>")[2].strip()
    text = text.partition(" ")[0].partition("<")[0]
    try:
        return int(text, 16) if text[:2] in ("0x", "0X") else int(text)
    except ValueError:
        return None


def field_value(text: str) -> str:
    """`0x2 /* AF_INET */` -> `AF_INET` (the -X verbose comment names the value)."""
    value, comment, rest = text.partition(" /* ")
    if comment and rest.endswith(" */"):
        return rest[:-3]
    return value.strip()


def struct_fields(text: str) -> dict[str, str]:
    """`{a=1, b={c=2}}` -> {"a": "1", "b": "{c=2}"}; items without `=` are keyed by position."""
    text = text.strip()
    if text[:1] != "{" or text[-1:] != "}":
        return {}
    fields: dict[str, str] = {}
    for index, item in enumerate(split_args(text[1:-1])):
        key, eq, value = item.partition("=")
        if eq and key.isidentifier():
            fields[key] = value
        else:
            fields[str(index)] = item
    return fields

"""Trace text made harmless to print: no control character, no markup, no CI command.

Every string a trace holds (task, coroutine, file and thread names, the command line, payloads,
syscall arguments, fd labels) was written by the traced program and is untrusted. Contract:
- `safe(text)` escapes what a terminal or log viewer would act on instead of showing: C0
  controls (TAB, LF, CR, BEL, BS, ESC, ...), DEL, C1 controls (U+0080-U+009F, CSI and OSC among
  them), bidirectional overrides and isolates (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F,
  U+061C), line and paragraph separators (U+2028, U+2029) and lone surrogates, as `\\n`, `\\t`,
  `\\r`, `\\xNN` or `\\uNNNN`; and the legacy GitHub Actions command opener `##[` as `##\\x5b`.
  Other text, backslashes included, is unchanged (strace's own escapes stay as strace wrote them).
- `safe_lines(text)` is `safe` of each line of a multi-line text, the newlines kept.
- `text(value, style)` is `safe(value)` as a rich `Text`, never parsed as rich markup.
- `guard_line(line)` / `guard_lines(text)`: a line whose first non-blank characters are `::`
  (a GitHub Actions workflow command: the runner reads every line of a step's output) gets its
  first colon written `\\x3a`. `GuardedStream(stream)` applies it to every line written through
  it, for outputs where trace text can start a line (tables, folded cells).
- `json_inert(text)`: JSON text with `##[` written `#\\u0023[` (the same JSON value), for JSON
  that may go to a CI log (`--format json` and `check --json` on stdout).
Only `syscorr check --github` writes real workflow commands, straight to the raw stream.
"""

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # rich loads only where a renderer uses it (`syscorr run` never does)
    from rich.text import Text

_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f" + _BIDI + "\u2028\u2029\ud800-\udfff]|##\\[")
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match) -> str:
    found = match.group()
    if found == "##[":
        return "##\\x5b"
    if found in _SHORT:
        return _SHORT[found]
    code = ord(found)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def safe(value) -> str:
    """`value` as text a terminal, a log viewer or a CI runner shows as it is."""
    s = value if type(value) is str else str(value)
    if s.isascii() and s.isprintable() and "##[" not in s:
        return s  # the common case: nothing to escape (isprintable is False for controls)
    return _UNSAFE.sub(_escape, s)


def json_inert(encoded: str) -> str:
    """Encoded JSON that no CI runner reads a legacy `##[` command in; the value is the same."""
    return encoded.replace("##[", "#\\u0023[") if "##[" in encoded else encoded


_UNSAFE_BUT_NEWLINE = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f" + _BIDI + "\u2028\u2029\ud800-\udfff]|##\\["
)


def safe_lines(value: str) -> str:
    """`safe` line by line: the newlines between lines kept (one scan when nothing is unsafe)."""
    if _UNSAFE_BUT_NEWLINE.search(value) is None:
        return value
    return "\n".join(safe(line) for line in value.split("\n"))


def text(value, style: str = "") -> "Text":
    """Untrusted text as a rich Text: escaped, and never read as markup."""
    from rich.text import Text

    return Text(safe(value), style=style)


_COMMAND = re.compile(r"^(\s*):(?=:)")


def guard_line(line: str) -> str:
    """A line that a CI runner would read as a workflow command, defused."""
    return _COMMAND.sub(r"\1\\x3a", line) if "::" in line else line


def guard_lines(value: str) -> str:
    if "::" not in value:
        return value
    return "\n".join(guard_line(line) for line in value.split("\n"))


class GuardedStream:
    """A text stream wrapper that defuses workflow commands at the start of any line written
    through it (lines are passed on whole; a partial line waits for its end or `flush`)."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self._partial = ""
        self._mid_line = False  # part of the current line was already passed on

    def write(self, data: str) -> int:
        if "\n" not in data:
            self._partial += data
            if len(self._partial) > 1 << 16:
                self._emit_partial()
            return len(data)
        head, _, tail = data.rpartition("\n")
        lines = (self._partial + head).split("\n")
        first = lines[0] if self._mid_line else guard_line(lines[0])
        rest = [guard_line(line) for line in lines[1:]] if "::" in head else lines[1:]
        self.stream.write("\n".join([first, *rest]) + "\n")
        self._partial = tail
        self._mid_line = False
        return len(data)

    def _emit_partial(self) -> None:
        self.stream.write(self._partial if self._mid_line else guard_line(self._partial))
        self._partial = ""
        self._mid_line = True

    def flush(self) -> None:
        if self._partial:
            self._emit_partial()
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self.stream, "encoding", "utf-8")

"""The one exception hierarchy of syscorr.

Contract: library code raises a subclass of `SyscorrError` with a message that is one
line, names the problem and says what to do. Only the CLI turns these into output
(`syscorr: error: <message>`, exit code 2). Nothing else is caught and re-worded.
"""


class SyscorrError(Exception):
    """Base class: a problem the user can act on. `str(err)` is the one-line message."""

    exit_code = 2


class UsageError(SyscorrError):
    """A command line or option that cannot work (bad value, missing target)."""


class TracerUnavailable(SyscorrError):
    """The syscall tracer is missing or not permitted (no strace, ptrace forbidden)."""


class TargetError(SyscorrError):
    """The program to trace cannot be started (not found, Python too old)."""


class TraceDirError(SyscorrError):
    """A trace directory cannot be created, or is missing, damaged or too new."""


class ParseError(SyscorrError):
    """Input that is not a syscall log at all (malformed lines are counted, never raised)."""

"""The one line every command prints for an error it cannot get past.

Contract: `report_error(err)` writes `syscorr: error: <message>` on stderr, the message made
inert (control characters escaped, no line a CI runner reads as a command), and returns the
error's exit code. It imports neither typer nor rich, so `syscorr run`'s fast path can use it.
"""

import sys

from syscorr.errors import SyscorrError


def report_error(err: SyscorrError) -> int:
    from syscorr.report.safe import guard_line, safe

    print(guard_line(safe(f"syscorr: error: {err}")), file=sys.stderr)
    return err.exit_code

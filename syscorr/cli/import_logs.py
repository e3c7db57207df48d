"""`syscorr import LOG...`: turn a strace or dtruss log the user recorded into a trace.

Contract: `import_command(...)` is the typer command (registered by syscorr.cli.app) over
`syscorr.capture.importer.import_logs`; it shows progress on stderr while it reads a large log
in a terminal, reports what was imported on stderr and turns a `SyscorrError` into one line
(exit 2).
"""

import sys
from pathlib import Path
from typing import Annotated

import typer

from syscorr.cli.common import fail, trace_progress
from syscorr.errors import SyscorrError

HELP = """Turn a strace or dtruss log you recorded yourself into a trace.

\b
Examples:
  strace -f -tt -T -y -o app.log python app.py && syscorr import app.log
  strace -ff -ttt -o out python app.py && syscorr import out.*
  sudo dtruss -f python app.py 2> dt.log && syscorr import dt.log
  sudo dtrace -q -s "$(python -m syscorr.capture.dtrace)" -o dt.log -c 'python3 app.py'
  syscorr import dt.log                    (macOS: syscorr's own D script, wall-clock stamps)

Any strace flags work (-f, -ff, -t/-tt/-ttt, -r, -T, -y/-yy, -x/-xx, -X, -Y, -n, -i, -k, -C).
The report then shows threads, fds, loop iterations and syscalls; tasks, coroutines and lines
need the agent: record with `syscorr run app.py` to get them.
"""


def import_command(
    logs: Annotated[list[Path], typer.Argument(help="The log file(s).", metavar="LOG...")],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", metavar="DIR", help="Write the trace here (new or empty)."),
    ] = None,
) -> None:
    from syscorr.capture.importer import import_logs
    from syscorr.report.safe import safe

    try:
        with trace_progress(paths=[Path(p) for p in logs if Path(p).is_file()]) as progress:
            result = import_logs(list(logs), output, progress=progress.reading)
    except SyscorrError as err:
        fail(err)
    counts = result.records
    print(
        f"syscorr: imported {len(logs)} {result.log_format} log(s): "
        f"{counts.get('Syscall', 0)} syscalls, {counts.get('SignalRecord', 0)} signals, "
        f"{counts.get('ExitRecord', 0)} exits into {safe(result.trace.path)}",
        file=sys.stderr,
    )
    if result.unparsed_note:
        print(f"syscorr: warning: {safe(result.unparsed_note)}", file=sys.stderr)
    print(
        "syscorr: no agent events in an imported log: tasks and coroutine lines are absent "
        "(record with `syscorr run app.py` to get them); see `syscorr report "
        f"{safe(result.trace.path)}`",
        file=sys.stderr,
    )

"""The `syscorr` entry point (`python -m syscorr` and the console script).

Contract: `main()` runs `syscorr run ARGS` through the fast parser (syscorr/cli/run_fastpath.py)
and `syscorr.cli.run_command.execute` when the parser takes the line, exiting with the status
execute returns (130 after Ctrl-C, as typer does); every other command line, and a `run` line
the fast parser declines, goes to the typer application (`syscorr.cli.app.main`), which is
only imported then. After a run, with the trace and meta.json written and closed, it flushes
stdout and stderr and leaves by `os._exit`: the interpreter's teardown (freeing every module,
a last garbage collection) took 50-120 ms of the run's wall time here and writes nothing. A
flush that fails makes the status 120, as Python's own exit does.
"""

import os
import sys


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["run"]:
        from syscorr.cli.run_fastpath import parse

        parsed = parse(args[1:], os.environ)
        if parsed is not None:
            from syscorr.cli.run_command import execute

            try:
                code = execute(parsed)
            except KeyboardInterrupt:
                code = 130
            _leave(code)
    from syscorr.cli.app import main as typer_main

    typer_main()


def _leave(code: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            code = code or 120
    os._exit(code)

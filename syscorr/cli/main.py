"""The `syscorr` entry point (`python -m syscorr` and the console script).

Contract: `main()` runs `syscorr run ARGS` through the fast parser (syscorr/cli/run_fastpath.py)
and `syscorr.cli.run_command.execute` when the parser takes the line, exiting with the status
execute returns (130 after Ctrl-C, as typer does); every other command line, and a `run` line
the fast parser declines, goes to the typer application (`syscorr.cli.app.main`), which is
only imported then.
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
            sys.exit(code)
    from syscorr.cli.app import main as typer_main

    typer_main()

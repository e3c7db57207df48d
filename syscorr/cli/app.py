"""The `syscorr` command line: one typer app with every command registered statically.

Contract: `app` is the typer application; `main()` runs it and turns a `SyscorrError` that
escaped a command into one line on stderr (exit 2), and Ctrl-C into exit 130. Each command
lives in its own module of this package (run, report, explain, check, import_logs, attach) as
a plain function with typer annotations; those modules parse options, call the library and turn
`SyscorrError` into one line (`syscorr.cli.common.fail`). No logic lives here.
"""

import sys
from typing import Annotated

import typer

from syscorr import __version__
from syscorr.cli import attach, check, explain, import_logs, report, run
from syscorr.errors import SyscorrError

app = typer.Typer(
    name="syscorr",
    help=(
        "See what an asyncio program actually does: every syscall (strace) and every coroutine "
        "step (sys.monitoring) on one timeline.\n\n"
        "Start with `syscorr run app.py`, then `syscorr report` or `syscorr explain`."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version_callback(value: bool) -> None:
    if value:
        print(f"syscorr {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    pass


app.command(name="run", help=run.HELP, context_settings=run.CONTEXT)(run.run)
app.command(name="report", help=report.HELP)(report.report)
app.command(name="explain", help=explain.HELP)(explain.explain)
app.command(name="import", help=import_logs.HELP)(import_logs.import_command)
app.command(name="check", help=check.HELP)(check.check)
app.command(name="attach", help=attach.HELP)(attach.attach)


def main() -> None:
    try:
        app()
    except SyscorrError as err:  # commands catch their own; this is the last net
        print(f"syscorr: error: {err}", file=sys.stderr)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        print("syscorr: interrupted", file=sys.stderr)
        sys.exit(130)

"""What `syscorr run` does once its options are parsed, without the command-line framework.

Contract: `RunArgs` holds the parsed options of `syscorr run` (the typer command in
syscorr/cli/run.py and the fast parser in syscorr/cli/run_fastpath.py both make one).
`execute(args)` resolves the syscall set and the backend, runs the target traced
(`capture/runner.py`), prints the one-line summary on stderr unless `quiet`, and returns the
exit status syscorr must exit with (the target's own; for a target killed by a signal it
kills syscorr with the same signal and does not return). A `SyscorrError` becomes one line
`syscorr: error: <message>` on stderr and its exit code. It imports neither typer nor rich:
the capture path starts the target as early as it can (`syscorr run` is timed as a whole by
scripts/bench_backends.py).
"""

import sys
from dataclasses import dataclass
from pathlib import Path

from syscorr.cli.errorline import report_error
from syscorr.errors import SyscorrError, UsageError


@dataclass(frozen=True, slots=True)
class RunArgs:
    argv: list[str]  # the script and its arguments, or CMD ARGS
    output: Path | None = None
    syscalls: str = "asyncio"
    string_limit: int = 256
    seccomp: bool = True
    call_sites: bool = True
    wait: str = "main"
    timeout: float | None = None
    backend: str = "auto"
    ebpf_buffer_mb: int = 16
    quiet: bool = False


def execute(args: RunArgs) -> int:
    from syscorr.capture import runner

    try:
        outcome = runner.run_traced(_request(args))
    except SyscorrError as err:
        return report_error(err)
    if not args.quiet:
        from syscorr.capture.summary import describe_outcome

        print(describe_outcome(outcome), file=sys.stderr)
    return runner.pass_exit_status(outcome)


def _request(args: RunArgs):
    from syscorr.capture import runner, syscall_sets
    from syscorr.capture.backend import CaptureOptions
    from syscorr.capture.ebpf import DATA_MAX, EbpfBackend, choose
    from syscorr.capture.supervise import WaitPolicy

    if args.argv and args.argv[0].startswith("-"):
        # typer passes options it does not know through as the command: name the mistake
        raise UsageError(
            f"unknown option {args.argv[0]!r} for syscorr run: see `syscorr run --help` "
            "(options go before the program; a program's own options after it)"
        )
    if args.wait not in ("main", "children"):
        raise UsageError(f"--wait {args.wait!r}: use main (the default) or children")
    set_name, names = syscall_sets.resolve(args.syscalls)
    options = CaptureOptions(names, set_name, args.string_limit, args.seccomp)
    mb = args.ebpf_buffer_mb
    if mb & (mb - 1):
        raise UsageError(f"--ebpf-buffer-mb {mb}: give a power of two (8, 16, 64)")
    tracer, why = choose(args.backend)
    if isinstance(tracer, EbpfBackend):
        tracer.ring_mb = mb
        if args.string_limit > DATA_MAX:
            print(f"syscorr: note: the eBPF backend keeps at most {DATA_MAX} bytes per call "
                  f"(-s {args.string_limit} asked for more)", file=sys.stderr)  # fmt: skip
    policy = WaitPolicy(args.wait, args.timeout)
    return runner.RunRequest(
        list(args.argv), tracer, options, args.output, args.call_sites, policy, why
    )

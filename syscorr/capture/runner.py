"""Run a target program under a tracer with the agent injected, and write its trace directory.

Contract: `run_traced(request)` checks everything that can be checked before starting (tracer
usable, target found, target Python new enough), creates the private trace directory, starts
the tracer (which starts the target) with the agent on PYTHONPATH, forwards SIGINT, SIGTERM,
SIGHUP and SIGQUIT sent to syscorr alone (a terminal's Ctrl-C already reaches the whole process
group, so those are not sent twice), waits for the whole traced process tree, writes meta.json
(also after an interrupt) and returns a `RunOutcome` with the target's exit status. It starts
processes and writes files; it renders nothing.
"""

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

import syscorr
from syscorr import TRACE_FORMAT_VERSION
from syscorr.capture import target as target_mod
from syscorr.capture.backend import Backend, CaptureOptions
from syscorr.errors import TargetError
from syscorr.trace import directory

AGENT_INJECT_DIR = Path(syscorr.__file__).parent / "agent" / "inject"
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
SI_KERNEL = 0x80  # si_code of a signal the kernel (e.g. the tty driver) sent


@dataclass(frozen=True, slots=True)
class RunRequest:
    argv: list[str]  # what the user typed after `run` (script + args, or `-- CMD ...`)
    backend: Backend
    options: CaptureOptions
    output: Path | None  # -o DIR, or None for the default location
    call_sites: bool = True  # record the line of each call in coroutine bodies
    backend_reason: str | None = None  # why `--backend auto` chose this backend


@dataclass(frozen=True, slots=True)
class RunOutcome:
    trace: directory.TraceDir
    returncode: int | None  # exit status when the target exited
    signal: int | None  # the signal that killed it
    interrupted_by: int | None  # a signal syscorr received and forwarded
    meta: dict


def clock_pair() -> dict:
    """Both clocks read back to back: lets readers detect a wall-clock step during the run."""
    return {"realtime_ns": time.time_ns(), "monotonic_ns": time.monotonic_ns()}


def run_traced(request: RunRequest) -> RunOutcome:
    target = target_mod.resolve(request.argv)
    request.backend.check_available()
    trace = directory.create(request.output, name=target.display_name)
    log_path = trace.path / request.backend.log_name
    tracer_argv = request.backend.command(target.argv, log_path, request.options)

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(AGENT_INJECT_DIR), env.get("PYTHONPATH", "")) if p
    )
    env["SYSCORR_AGENT_DIR"] = str(trace.agent_dir.resolve())
    env["SYSCORR_CLOCK"] = request.backend.clock
    env["SYSCORR_CALL_SITES"] = "1" if request.call_sites else "0"

    meta = {
        "format_version": TRACE_FORMAT_VERSION,
        "syscorr_version": syscorr.__version__,
        "kind": "run",
        "command": target.argv,
        "cwd": os.getcwd(),
        "target_python": target.python_version,
        "backend": {
            "name": request.backend.name,
            "version": request.backend.version(),
            "argv": tracer_argv,
            "clock": request.backend.clock,
            "log_format": request.backend.log_format,
            "chosen_because": request.backend_reason,
        },
        "syscall_set": {
            "name": request.options.syscall_set_name,
            "syscalls": list(request.options.syscalls) if request.options.syscalls else None,
        },
        "syscall_logs": [log_path.name],
        "agent": {
            "call_sites": request.call_sites,
            "inject_dir": str(AGENT_INJECT_DIR),
            "dir": env["SYSCORR_AGENT_DIR"],
        },
        "clocks": {"start": clock_pair()},
        "exit": None,
    }
    trace.write_meta(meta)  # a trace interrupted hard still says what it was
    _create_private_file(log_path)  # the tracer keeps this mode: payloads stay private

    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED_SIGNALS)
    try:
        try:
            tracer = subprocess.Popen(tracer_argv, env=env, preexec_fn=_unblock_signals)
        except OSError as e:
            raise TargetError(f"cannot start {tracer_argv[0]}: {e.strerror}") from e
        interrupted_by = _wait_forwarding_signals(tracer)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

    code = tracer.returncode
    returncode, killed_by = (code, None) if code >= 0 else (None, -code)
    meta["clocks"]["end"] = clock_pair()
    meta["backend"].update(request.backend.after_run(log_path))
    meta["exit"] = {"code": returncode, "signal": killed_by, "interrupted_by": interrupted_by}
    if killed_by is not None:
        meta["exit"]["signal_name"] = signal.Signals(killed_by).name
    trace.write_meta(meta)
    return RunOutcome(trace, returncode, killed_by, interrupted_by, meta)


def _create_private_file(path: Path) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))


def _unblock_signals() -> None:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED_SIGNALS)


def _wait_forwarding_signals(tracer: subprocess.Popen) -> int | None:
    """Wait for the tracer to exit; pass signals sent to syscorr alone on to the target."""
    interrupted_by = None
    while tracer.poll() is None:
        info = signal.sigtimedwait(FORWARDED_SIGNALS, 0.05)
        if info is None:
            continue
        interrupted_by = info.si_signo
        if info.si_code == SI_KERNEL:
            continue  # from the terminal: the target's process group got it already
        for proc in _target_processes(tracer.pid):
            try:
                proc.send_signal(info.si_signo)
            except psutil.Error:
                pass
    return interrupted_by


def _target_processes(tracer_pid: int) -> list[psutil.Process]:
    """The tracer's direct children: the target (its descendants handle signals themselves)."""
    try:
        return psutil.Process(tracer_pid).children()
    except psutil.Error:
        return []


def pass_exit_status(outcome: RunOutcome) -> int:
    """The exit code for syscorr itself; for a signal death, die by the same signal."""
    if outcome.signal is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        sig = outcome.signal
        if sig in (signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS, signal.SIGQUIT, signal.SIGFPE):
            import resource

            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # the target dumped core already
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [sig])
        os.kill(os.getpid(), sig)
        return 128 + sig  # not reached for fatal signals
    return outcome.returncode if outcome.returncode is not None else 1

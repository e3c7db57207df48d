"""Run a target program under a tracer with the agent injected, and write its trace directory.

Contract: `run_traced(request)` checks everything that can be checked before starting (tracer
usable, target found, target Python new enough), creates the private trace directory, starts
the tracer (which starts the target) with the agent on PYTHONPATH as a job of its own
(`capture/jobs.py`: process group, terminal), waits as `request.policy` says while passing
signals on (`capture/supervise.py`), writes meta.json (also after an interrupt, a tracer that
died, or on a full disk: a reserve file set aside at the start makes room for it) and returns
a `RunOutcome` with the target's exit status. It starts processes and writes files; it
renders nothing.
"""

import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import syscorr
from syscorr import TRACE_FORMAT_VERSION
from syscorr.capture import target as target_mod
from syscorr.capture.backend import Backend, CaptureOptions
from syscorr.capture.inherited import inherited_fds
from syscorr.capture.jobs import BLOCKED_BY_RUNNER, WAKES_RUNNER, Job
from syscorr.capture.supervise import Ended, WaitPolicy, supervise
from syscorr.errors import TargetError
from syscorr.trace import directory

AGENT_INJECT_DIR = Path(syscorr.__file__).parent / "agent" / "inject"
FORWARDED_SIGNALS = BLOCKED_BY_RUNNER
RESERVE = ".reserve"  # allocated at the start, removed before the last meta.json write
RESERVE_SIZE = 256 << 10
TIMEOUT_EXIT = 124  # as timeout(1)


@dataclass(frozen=True, slots=True)
class RunRequest:
    argv: list[str]  # what the user typed after `run` (script + args, or `-- CMD ...`)
    backend: Backend
    options: CaptureOptions
    output: Path | None  # -o DIR, or None for the default location
    call_sites: bool = True  # record the line of each call in coroutine bodies
    policy: WaitPolicy = field(default_factory=WaitPolicy)
    backend_reason: str | None = None  # why `--backend auto` chose this backend


@dataclass(frozen=True, slots=True)
class RunOutcome:
    trace: directory.TraceDir
    returncode: int | None  # exit status when the target exited
    signal: int | None  # the signal that killed it
    interrupted_by: int | None  # a signal syscorr received and forwarded
    meta: dict
    tracer_died: str | None = None  # the tracer ended before the program: how
    timed_out: bool = False
    left_running: tuple[int, ...] = ()  # processes still running (and traced) at the end


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
    env.update(request.backend.tracer_env(log_path))

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
        "wait": {"for": request.policy.wait, "timeout_s": request.policy.timeout},
        "clocks": {"start": clock_pair()},
        "exit": None,
    }
    trace.write_meta(meta)  # a trace interrupted hard still says what it was
    request.backend.prepare(log_path)  # private files: the tracer keeps their mode
    _set_aside(trace.path / RESERVE, RESERVE_SIZE)

    meta["inherited_fds"] = {str(fd): facts for fd, facts in inherited_fds().items()}
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, (*FORWARDED_SIGNALS, WAKES_RUNNER))
    try:
        try:
            job = Job.start(tracer_argv, env, child_mask=blocked)
        except OSError as e:
            raise TargetError(f"cannot start {tracer_argv[0]}: {e.strerror}") from e
        try:
            ended = supervise(job, request.backend, log_path, request.policy)
        finally:
            job.close()
        outcome = _finish(trace, meta, request.backend, log_path, ended)
        while signal.sigtimedwait(FORWARDED_SIGNALS, 0) is not None:
            pass  # repeats of a signal that already ended the wait (timeout(1) sends two)
        # a SIGCHLD still pending is left to syscorr's own disposition when unblocked
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    return outcome


def _finish(
    trace: directory.TraceDir, meta: dict, backend: Backend, log_path: Path, ended: Ended
) -> RunOutcome:
    main = ended.main_exit
    returncode, killed_by = (main.code, main.signal) if main is not None else (None, None)
    meta["clocks"]["end"] = clock_pair()
    meta["backend"].update(backend.after_run(log_path))
    meta["exit"] = {
        "code": returncode,
        "signal": killed_by,
        "interrupted_by": ended.interrupted_by,
    }
    if killed_by is not None:
        meta["exit"]["signal_name"] = _signal_name(killed_by)
    if ended.main_pid is not None:
        meta["exit"]["pid"] = ended.main_pid
    if ended.timed_out:
        meta["exit"]["timed_out"] = True
    if ended.tracer_died:
        meta["exit"]["tracer_died"] = ended.tracer_died
        meta["exit"]["program_after_tracer"] = ended.program_after_tracer
    if ended.left_running:
        meta["exit"]["left_running"] = ended.left_running  # still traced: the log grows on
    account = backend.capture_account(log_path)
    if account is not None:
        meta["capture"] = account
    try:
        os.unlink(trace.path / RESERVE)  # room for meta.json on a full disk
    except OSError:
        pass
    trace.write_meta(meta)
    return RunOutcome(
        trace,
        returncode,
        killed_by,
        ended.interrupted_by,
        meta,
        ended.tracer_died,
        ended.timed_out,
        tuple(ended.left_running),
    )


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def _set_aside(path: Path, size: int) -> None:
    """Allocate `size` bytes that can be given back later (best effort)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError:
        return
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError:
        pass
    finally:
        os.close(fd)


def pass_exit_status(outcome: RunOutcome) -> int:
    """The exit code for syscorr itself; for a signal death, die by the same signal."""
    if outcome.signal is not None and not outcome.timed_out and not outcome.tracer_died:
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
    if outcome.tracer_died:
        return 2
    if outcome.timed_out:
        return TIMEOUT_EXIT
    return outcome.returncode if outcome.returncode is not None else 1

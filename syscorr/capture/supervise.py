"""Watch a traced job until it is over, passing signals on: the runner's wait loop.

Contract: `supervise(job, backend, log_path, policy)` returns an `Ended` once syscorr may stop
waiting. It learns the program's pid (the tracer's traced child), when the program ends (a
pidfd) and how (the exit line the tracer wrote for it, `Backend.exit_of`), and notices the
tracer dying before the program did. What ends the wait:
- the tracer exits (every traced process is gone, or the tracer died);
- with `policy.wait == "main"` (the default), the program itself ended: processes it started
  that are still running are named in `Ended.left_running`, and the tracer is left to trace
  them until they exit (detaching would leave them with strace's seccomp filter, which fails
  their system calls once no tracer is attached);
- a signal syscorr receives after the program ended (Ctrl-C, SIGTERM always stop the wait);
- `policy.timeout` seconds: the program (with `wait == "children"`, every traced process) gets
  SIGTERM, and SIGKILL `KILL_AFTER` seconds later, and the wait ends as above.
While the program runs, SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to syscorr are passed on to it
once: a signal the program got directly as well (it shares syscorr's group: `jobs.Job` mode
"shared") is not sent again, nor the repeat of one from the same sender within `REPEAT_S`
(`timeout -s INT` signals syscorr and then its group). The caller blocks those signals and
SIGCHLD (`jobs.WAKES_RUNNER`), whose arrival ends a wait step early: the tracer's end is seen at
once rather than at the next `POLL_S` tick.
"""

import os
import re
import select
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from syscorr.capture.backend import Backend, ExitStatus
from syscorr.capture.jobs import BLOCKED_BY_RUNNER, WAKES_RUNNER, Job

SI_KERNEL = 0x80  # si_code of a signal the kernel (e.g. the tty driver) sent
POLL_S = 0.05
WAIT_SIGNALS = (*BLOCKED_BY_RUNNER, WAKES_RUNNER)
REPEAT_S = 0.1
KILL_AFTER = 5.0
EXIT_LINE_WAIT_S = 2.0  # how long the tracer may take to write the program's exit line
WITH_TRACER_S = 1.0  # a program that ends this soon after the tracer died ended with it


@dataclass(frozen=True, slots=True)
class WaitPolicy:
    wait: str = "main"  # "main" | "children"
    timeout: float | None = None  # seconds


@dataclass(slots=True)
class Ended:
    main_pid: int | None = None
    main_exit: ExitStatus | None = None  # how the program itself ended, when known
    tracer_status: int | None = None  # raw wait status of the tracer; None: still running
    tracer_died: str | None = None  # the tracer ended before the program: how
    interrupted_by: int | None = None  # a signal syscorr received
    timed_out: bool = False
    left_running: list[int] = field(default_factory=list)  # traced processes still running
    program_after_tracer: str | None = None  # what became of the program after the tracer died


def supervise(job: Job, backend: Backend, log_path: Path, policy: WaitPolicy) -> Ended:
    return _Watch(job, backend, log_path, policy).run()


class _Watch:
    def __init__(self, job: Job, backend: Backend, log_path: Path, policy: WaitPolicy) -> None:
        self.job, self.backend, self.log_path, self.policy = job, backend, log_path, policy
        self.ended = Ended()
        self.started = time.monotonic()
        self.deadline = self.started + policy.timeout if policy.timeout else None
        self.kill_at: float | None = None
        self.main_fd: int | None = None
        self.main_gone_at: float | None = None
        self.main_was_running = True  # when the tracer ended
        self.last_signal: tuple[int, int, float] | None = None  # (signo, sender, when)

    def run(self) -> Ended:
        try:
            while True:
                if self._tracer_ended():
                    break
                self._find_main()
                self._check_main()
                if self._done_with_main():
                    break
                self._check_timeout()
                info = signal.sigtimedwait(WAIT_SIGNALS, POLL_S)
                if info is None or info.si_signo == WAKES_RUNNER:
                    continue  # a child of syscorr (the tracer) changed state: look again
                if self._on_signal(info):
                    break
        finally:
            if self.main_fd is not None:
                os.close(self.main_fd)
        return self.ended

    # ---- the tracer ----

    def _tracer_ended(self) -> bool:
        try:
            pid, status = os.waitpid(self.job.pid, os.WNOHANG | os.WUNTRACED)
        except ChildProcessError:
            return True
        if pid == 0:
            return False
        if os.WIFSTOPPED(status):
            self.job.suspend()  # Ctrl-Z: stop with it, continue with it
            return False
        self.job.process.returncode = os.waitstatus_to_exitcode(status)
        self.ended.tracer_status = status
        self._find_main()
        self.main_was_running = self.main_gone_at is None
        self._check_main()
        ended = self.ended
        if ended.main_pid is not None and ended.main_exit is None:
            ended.main_exit = self.backend.exit_of(self.log_path, ended.main_pid)
        if ended.main_exit is None and self.backend.reports_exits:
            self._tracer_died_or_lost(status)
        elif ended.main_exit is None:  # the tracer passes the program's status on as its own
            ended.main_exit = _status_of(status)
        return True

    def _tracer_died_or_lost(self, status: int) -> None:
        """No exit line for the program: the tracer died first, or the line was lost."""
        ended = self.ended
        account = self.backend.capture_account(self.log_path) or {}
        dropped = [e for e in account.get("dropped_exits") or [] if len(e) == 2]
        text = next((str(text) for pid, text in dropped if pid == ended.main_pid), None)
        if text is not None:
            ended.main_exit = _parse_exit(text)
            return
        if os.WIFEXITED(status) or account.get("failed") or ended.main_pid is None:
            # the tracer passes the program's status on as its own (lines may have been lost,
            # or the program ended before it was ever seen)
            ended.main_exit = _status_of(status)
            return
        sig = os.WTERMSIG(status)
        ended.tracer_died = (
            f"{self.backend.name} (pid {self.job.pid}) was killed by {_signal_name(sig)} "
            f"{time.monotonic() - self.started:.1f} s into the run"
        )
        self.ended.program_after_tracer = self._wait_for_orphaned_main()

    def _wait_for_orphaned_main(self) -> str:
        """The tracer is gone: the program was killed with it (strace's seccomp mode) or runs
        on untraced. Wait for it (signals still passed on), as `syscorr run` waits for the
        program; its exit status cannot be known (it is no longer syscorr's grandchild's)."""
        pid = self.ended.main_pid
        if pid is None or not self.main_was_running:
            return "had ended"
        died = time.monotonic()
        while time.monotonic() - died < WITH_TRACER_S:
            if self._main_ended_now():
                self.job.reclaim_terminal()
                return "ended with it (strace's seccomp mode kills what it traces)"
            time.sleep(POLL_S / 5)
        while not self._main_ended_now():
            info = signal.sigtimedwait(BLOCKED_BY_RUNNER, POLL_S)
            if info is not None:
                self.ended.interrupted_by = info.si_signo
                self._send(self.ended.main_pid, info.si_signo)
        self.job.reclaim_terminal()
        return "ran on untraced until it ended"

    # ---- the program ----

    def _find_main(self) -> None:
        if self.ended.main_pid is not None:
            return
        pid = self.backend.program_of(self.job.pid)
        if pid is None:
            return
        self.ended.main_pid = pid
        try:
            self.main_fd = os.pidfd_open(pid)
        except (OSError, AttributeError):
            self.main_fd = None

    def _main_ended_now(self) -> bool:
        pid = self.ended.main_pid
        if pid is None:
            return False
        if self.main_fd is not None:
            return bool(select.select([self.main_fd], [], [], 0)[0])
        import psutil

        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.Error:
            return True

    def _check_main(self) -> None:
        if self.main_gone_at is None and self._main_ended_now():
            self.main_gone_at = time.monotonic()
            self.job.reclaim_terminal()  # Ctrl-C now reaches syscorr, which stops waiting
        if self.main_gone_at is not None and self.ended.main_exit is None:
            self.ended.main_exit = self.backend.exit_of(self.log_path, self.ended.main_pid)

    def _done_with_main(self) -> bool:
        if self.policy.wait != "main" or self.main_gone_at is None:
            return False
        if self.ended.main_exit is None and time.monotonic() - self.main_gone_at < EXIT_LINE_WAIT_S:
            return False
        return self._stop_waiting()

    def _stop_waiting(self) -> bool:
        """End the wait, leaving the processes still traced to the tracer. False when there
        are none: the tracer is about to exit, wait for it."""
        self.ended.left_running = [
            pid
            for pid in self.backend.traced_processes(self.job.pid)
            if pid != self.ended.main_pid and _running(pid)
        ]
        return bool(self.ended.left_running)

    # ---- timeout and signals ----

    def _check_timeout(self) -> None:
        now = time.monotonic()
        if self.deadline is None or now < self.deadline:
            return
        if not self.ended.timed_out:
            self.ended.timed_out = True
            self.kill_at = now + KILL_AFTER
            self._signal_targets(signal.SIGTERM)
        elif self.kill_at is not None and now >= self.kill_at:
            self.kill_at = None
            self._signal_targets(signal.SIGKILL)

    def _signal_targets(self, sig: int) -> None:
        main = self.ended.main_pid
        if self.policy.wait == "children" or self.main_gone_at is not None:
            targets = self.backend.traced_processes(self.job.pid)
        else:
            targets = [main] if main is not None else []
        for pid in targets:
            self._send(pid, sig)

    def _on_signal(self, info) -> bool:
        """A signal syscorr received; True when the wait should end."""
        signo, sender, now = info.si_signo, info.si_pid, time.monotonic()
        self.ended.interrupted_by = signo
        self._find_main()
        if self.ended.main_pid is None:
            return False  # the program has not started yet
        if self.main_gone_at is not None:
            return self._stop_waiting()  # Ctrl-C, SIGTERM: stop waiting for its children
        repeat = self.last_signal is not None and self.last_signal[:2] == (signo, sender)
        if repeat and now - self.last_signal[2] < REPEAT_S:
            return False
        self.last_signal = (signo, sender, now)
        if self.job.signal_names_shared():
            if info.si_code == SI_KERNEL or self._reached_directly(signo, sender):
                return False  # from the terminal, or to the whole group: the program has it
        self._send(self.ended.main_pid, signo)
        return False

    def _reached_directly(self, signo: int, sender: int) -> bool:
        """In a shared group, was a signal syscorr got from `sender` also sent to the program?
        It is then pending in the program, or the tracer logged its delivery."""
        pid = self.ended.main_pid
        deadline = time.monotonic() + 2 * POLL_S
        while True:
            if _pending(pid, signo) or self.backend.delivered(self.log_path, pid, signo, sender):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(POLL_S / 5)

    @staticmethod
    def _send(pid: int | None, sig: int) -> None:
        if pid is None:
            return
        try:
            os.kill(pid, sig)
        except OSError:
            pass


def _status_of(wait_status: int) -> ExitStatus:
    code = os.waitstatus_to_exitcode(wait_status)
    return ExitStatus(code, None) if code >= 0 else ExitStatus(None, -code)


def _running(pid: int) -> bool:
    """Alive, not a zombie waiting to be reaped."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _pending(pid: int | None, signo: int) -> bool:
    """Is `signo` pending in process `pid` (for the process or any of its threads)?"""
    if pid is None:
        return False
    bit = 1 << (signo - 1)
    paths = [Path(f"/proc/{pid}/status")]
    try:
        paths += [p / "status" for p in Path(f"/proc/{pid}/task").iterdir()]
    except OSError:
        pass
    for path in paths:
        try:
            text = path.read_text()
        except OSError:
            continue
        for key in ("ShdPnd", "SigPnd"):
            match = re.search(rf"^{key}:\s*([0-9a-f]+)", text, re.M)
            if match and int(match.group(1), 16) & bit:
                return True
    return False


def _parse_exit(text: str) -> ExitStatus | None:
    match = re.match(r"exited with (\d+)|killed by (SIG\w+)", text)
    if match is None:
        return None
    if match.group(1) is not None:
        return ExitStatus(int(match.group(1)), None)
    try:
        return ExitStatus(None, int(signal.Signals[match.group(2)]))
    except KeyError:
        return None


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"

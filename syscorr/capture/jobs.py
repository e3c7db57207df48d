"""The traced job: the tracer and the program in a process group of their own, as a shell does.

Contract: `Job.start(argv, env, child_mask)` starts the tracer (which starts the program) with
the signal mask `child_mask` (the one syscorr had before the runner blocked the signals it
waits for: the program inherits what it would without syscorr) and returns the Job. Where the
tracer's processes run depends on where syscorr runs (`Job.mode`):
- "own-group" (syscorr is not in the foreground of a terminal: CI, `timeout`, `&`): a new
  process group. A signal sent to syscorr's group (`kill -INT -PGID`, `timeout -s INT`) reaches
  syscorr only, which passes it on once.
- "foreground" (syscorr leads the terminal's foreground group, started by a shell): a new group
  that is made the terminal's foreground group, so Ctrl-C, Ctrl-\\ and reads of the terminal
  reach the program directly, as without syscorr; `reclaim_terminal()` takes it back (when the
  program has ended, or before syscorr prints), Ctrl-Z stops the job and syscorr with it
  (`suspend()`: the shell sees its job stopped; `fg` continues both).
- "shared" (syscorr is in the terminal's foreground group but does not lead it: a script or
  make runs it): syscorr's own group, so the terminal's signals reach every process in it as
  they would without syscorr (the parent script included).
`signal_names_shared()` says whether the program shares syscorr's group (signals to that group
reach it directly). Nothing here reads the trace; errors starting the tracer are OSError.
"""

import os
import signal
import subprocess
from collections.abc import Sequence

BLOCKED_BY_RUNNER = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
# also blocked by the runner while it waits: the tracer's end wakes the wait at once
WAKES_RUNNER = signal.SIGCHLD


def _terminal() -> int | None:
    """A descriptor on syscorr's controlling terminal, or None when it has none."""
    try:
        return os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return None


def _give_terminal(fd: int, pgid: int) -> bool:
    """Make `pgid` the terminal's foreground group (SIGTTOU blocked: a background caller
    would otherwise be stopped by it, as a shell is not)."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTTOU])
    try:
        os.tcsetpgrp(fd, pgid)
        return True
    except OSError:
        return False
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


class Job:
    def __init__(self, process: subprocess.Popen, mode: str, tty: int | None) -> None:
        self.process = process
        self.pid = process.pid
        self.mode = mode
        self._tty = tty
        self.pgid = os.getpgrp() if mode == "shared" else process.pid

    @classmethod
    def start(cls, argv: Sequence[str], env: dict, child_mask: set | None = None) -> "Job":
        tty = _terminal()
        mode = "own-group"
        if tty is not None:
            try:
                foreground = os.tcgetpgrp(tty) == os.getpgrp()
            except OSError:
                foreground = False
            if foreground:
                mode = "foreground" if os.getpgrp() == os.getpid() else "shared"
            if mode != "foreground":
                os.close(tty)
                tty = None

        def in_child() -> None:  # after fork, before exec (syscorr is single-threaded)
            if mode != "shared":
                os.setpgid(0, 0)
            if tty is not None:
                _give_terminal(tty, os.getpgrp())  # the parent does it too: no race
            if child_mask is None:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, (*BLOCKED_BY_RUNNER, WAKES_RUNNER))
            else:
                signal.pthread_sigmask(signal.SIG_SETMASK, child_mask)

        try:
            # close_fds=False: the program inherits what it would inherit without syscorr
            # (socket activation's fd 3...); syscorr's own fds are close-on-exec
            process = subprocess.Popen(list(argv), env=env, preexec_fn=in_child, close_fds=False)
        except BaseException:
            if tty is not None:
                os.close(tty)
            raise
        job = cls(process, mode, tty)
        if mode != "shared":
            try:
                os.setpgid(process.pid, process.pid)
            except OSError:
                pass  # it did so itself, and may have exec'd already
        if tty is not None:
            _give_terminal(tty, process.pid)
        return job

    def signal_names_shared(self) -> bool:
        return self.mode == "shared"

    def reclaim_terminal(self) -> None:
        """Give the terminal back to syscorr's group (idempotent)."""
        if self._tty is not None:
            _give_terminal(self._tty, os.getpgrp())

    def suspend(self) -> None:
        """The job was stopped (Ctrl-Z): stop syscorr too, so that the shell regains the
        terminal; when continued (`fg`/`bg`), continue the job, in the foreground if syscorr is."""
        self.reclaim_terminal()
        os.kill(os.getpid(), signal.SIGSTOP)
        if self._tty is not None:
            try:
                in_front = os.tcgetpgrp(self._tty) == os.getpgrp()
            except OSError:
                in_front = False
            if in_front:
                _give_terminal(self._tty, self.pgid)
        try:
            os.killpg(self.pgid, signal.SIGCONT)
        except OSError:
            pass

    def close(self) -> None:
        self.reclaim_terminal()
        if self._tty is not None:
            os.close(self._tty)
            self._tty = None

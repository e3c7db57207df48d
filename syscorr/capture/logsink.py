# The tracer's log sink: strace writes its log into a pipe (`-o '|exec python logsink.py'`),
# this process copies it into the trace directory's log file.
#
# Contract: run by strace (its `-o |CMD` child) with stdin the pipe, the environment naming the
# log file (SYSCORR_SINK_LOG, created empty by the runner) and a status file (SYSCORR_SINK_STATUS,
# created and allocated by the runner so that writing it needs no new disk blocks). It copies
# every byte until end of file. When the log can no longer be written (disk full, quota, I/O
# error) it cuts the log back to its last whole line, keeps reading and counting what it drops
# (bytes, lines, and the exit lines `PID +++ exited with N +++` among them, so the program's
# exit status is still known), and writes that account into the status file: one JSON object,
# rewritten when something changes. Why a sink: strace itself prints one error line per syscall
# on the stderr it shares with the program when its log cannot be written.
# It never prints (its stdout and stderr are the program's) and never exits before end of file
# (strace would then fail every write): every error is caught, and the signals a terminal or a
# group kill sends (it shares the program's process group) are ignored. Standard library only, never
# imports syscorr (it runs with -I -S).

import json
import os
import re
import time

CHUNK = 1 << 20
BATCH = 64 << 10  # a read shorter than this is followed by a nap
NAP_S = 0.01
STATUS_SIZE = 4096  # what the runner allocates; the account is cut to fit
MAX_EXITS = 64  # exit lines kept from dropped data
_EXIT_LINE = re.compile(
    rb"^(\d+) +(?:[\d.:]+ +)?\+\+\+ (exited with \d+|killed by SIG\w+.*?) \+\+\+$", re.M
)


class Sink:
    def __init__(self, log_path, status_path):
        self.log_fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        self.status_path = status_path
        self.written = 0  # bytes in the log
        self.whole = 0  # bytes up to and including the last newline written
        self.failed = None  # why the log stopped, once it did
        self.failed_at_ns = None
        self.lost_bytes = 0
        self.lost_lines = 0
        self.partial = b""  # the dropped start of a line cut at the failure
        self.exits = []  # exit lines found in dropped data: (pid, text)

    def take(self, data):
        if self.failed is None:
            try:
                done = 0
                while done < len(data):
                    done += os.write(self.log_fd, data[done:])
            except OSError as err:
                self._fail(err, data, done)
                return
            self.written += len(data)
            newline = data.rfind(b"\n")
            if newline >= 0:
                self.whole = self.written - len(data) + newline + 1
            return
        self._drop(data)

    def _fail(self, err, data, done):
        self.failed = os.strerror(err.errno) if err.errno else str(err)
        self.failed_at_ns = time.time_ns()
        self.written += done
        newline = data.rfind(b"\n", 0, done)
        if newline >= 0:
            self.whole = self.written - done + newline + 1
        try:
            os.ftruncate(self.log_fd, self.whole)  # never leave half a line
        except OSError:
            pass
        cut = self.whole - (self.written - done)  # where in `data` the kept part ends
        self._drop(data[max(cut, 0) :])
        self.write_status()

    def _drop(self, data):
        self.lost_bytes += len(data)
        self.lost_lines += data.count(b"\n")
        last = data.rfind(b"\n")
        if last < 0:
            self.partial = (self.partial + data)[-4096:]
            return
        text = self.partial + data[: last + 1]
        self.partial = data[last + 1 :][-4096:]
        if len(self.exits) < MAX_EXITS and b"+++" in text:
            found = [
                (int(m.group(1)), m.group(2).decode("ascii", "replace"))
                for m in _EXIT_LINE.finditer(text)
            ]
            if found:
                self.exits.extend(found)
                self.write_status()

    def write_status(self, finished=False):
        status = {
            "log_bytes": self.whole if self.failed else self.written,
            "failed": self.failed,
            "failed_at_ns": self.failed_at_ns,
            "lost_bytes": self.lost_bytes,
            "lost_lines": self.lost_lines,
            "dropped_exits": [list(e) for e in self.exits[:MAX_EXITS]],
            "finished": finished,
        }
        data = json.dumps(status).encode()
        while len(data) > STATUS_SIZE and status["dropped_exits"]:
            status["dropped_exits"].pop()
            data = json.dumps(status).encode()
        try:
            fd = os.open(self.status_path, os.O_WRONLY | os.O_CLOEXEC)
        except OSError:
            return
        try:
            os.pwrite(fd, data.ljust(STATUS_SIZE, b" ")[:STATUS_SIZE], 0)
        except OSError:
            pass
        finally:
            os.close(fd)


def main():
    import signal

    for name in ("SIGINT", "SIGQUIT", "SIGHUP", "SIGTERM", "SIGPIPE"):
        try:  # the terminal's Ctrl-C is the program's: the sink ends at end of file only
            signal.signal(getattr(signal, name), signal.SIG_IGN)
        except (AttributeError, OSError, ValueError):
            pass
    stdin = 0
    try:
        import fcntl

        fcntl.fcntl(stdin, getattr(fcntl, "F_SETPIPE_SZ", 1031), CHUNK)  # strace blocks less
    except Exception:
        pass
    sink = None
    try:
        sink = Sink(os.environ["SYSCORR_SINK_LOG"], os.environ["SYSCORR_SINK_STATUS"])
    except Exception:
        pass
    while True:
        try:
            data = os.read(stdin, CHUNK)
        except InterruptedError:
            continue
        except OSError:
            break
        if not data:
            break
        if len(data) < BATCH:
            time.sleep(NAP_S)  # let lines gather: a wake-up per line would slow the tracer down
        if sink is not None:
            try:
                sink.take(data)
            except Exception:
                pass
    if sink is not None:
        try:
            sink.write_status(finished=True)
        except Exception:
            pass


if __name__ == "__main__":
    main()

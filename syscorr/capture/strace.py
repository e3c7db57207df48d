"""The strace backend: Linux, unprivileged (ptrace of our own child), CLOCK_REALTIME stamps.

Contract: `StraceBackend.check_available()` raises TracerUnavailable naming the fix (install
command, or the ptrace restriction: container capability or yama ptrace_scope) before any target
starts. `command()` builds an argv that follows forks (-f), stamps every line with ns absolute
time (or µs `-ttt` on strace < 6), records time spent in each call (-T), decodes fds to paths
and socket inodes (-y: not -yy, whose cost grows with the square of the open sockets), keeps
`-s N` bytes of strings, writes to a pipe read by `capture/logsink.py` (never to the terminal the
target shares; the sink writes the log file, and on a full disk stops with whole lines and
counts what it dropped, where strace would print an error per syscall on the program's stderr),
and keeps strace's attach messages off the target's stderr (-q). Feature support is read from
the installed strace's own `--help`, not guessed from its version. `exit_of` and `delivered`
read the log's end (bounded), `capture_account` the sink's status file.
"""

import functools
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from syscorr.capture.backend import CaptureOptions, ExitStatus
from syscorr.errors import TracerUnavailable

CAP_SYS_PTRACE = 19
SINK = Path(__file__).with_name("logsink.py")
SINK_ENV = ("SYSCORR_SINK_LOG", "SYSCORR_SINK_STATUS")
CAPTURE_STATUS = "capture.json"  # the sink's account, beside the log
STATUS_SIZE = 4096  # allocated before the run: writable on a full disk
EXIT_SCAN_BYTES = 64 << 20  # how far back from the end `exit_of` looks
SIGNAL_SCAN_BYTES = 256 << 10
STAMP = rb"(?:[\d.:]+ +)?"  # the timestamp column, when there is one
EXIT_MARK = STAMP + rb"\+\+\+ "


class StraceBackend:
    name = "strace"
    clock = "realtime"
    log_format = "strace"
    log_name = "strace.log"
    reports_exits = True  # `PID +++ exited with N +++` for every traced process

    def __init__(self, executable: str | None = None) -> None:
        self._executable = executable

    @property
    def executable(self) -> str:
        found = self._executable or shutil.which("strace")
        if not found:
            raise TracerUnavailable(
                "strace is not installed: install it with `sudo apt-get install strace` "
                "(Debian/Ubuntu) or `sudo dnf install strace` (Fedora)"
            )
        return found

    def check_available(self) -> None:
        exe = self.executable
        try:
            probe = subprocess.run(
                [exe, "-o", os.devnull, "--", _true_command()],
                capture_output=True,
                text=True,
                timeout=30,
            )
        except OSError as e:
            raise TracerUnavailable(f"cannot run {exe}: {e.strerror}") from e
        except subprocess.TimeoutExpired:
            raise TracerUnavailable(f"{exe} did not finish tracing `true` within 30 s") from None
        if probe.returncode != 0:
            raise TracerUnavailable(_explain_failure(probe.stderr))

    def version(self) -> str:
        return _version(self.executable)

    def features(self) -> frozenset[str]:
        return _features(self.executable)

    def command(self, target: list[str], log_path: Path, options: CaptureOptions) -> list[str]:
        features = self.features()
        # -y, not -yy: -yy re-reads a socket's addresses on every call, from a kernel dump whose
        # size grows with the open sockets (quadratic: scripts/bench_fds.py); the fd table
        # learns them once, from socket/bind/connect/accept/getsockname (correlate/fdtable.py)
        argv = [self.executable, "-f", "-q", "-y", "-s", str(options.string_limit)]
        if "absolute-timestamps-ns" in features:
            argv.append("--absolute-timestamps=format:unix,precision:ns")
        else:
            argv.append("-ttt")
        argv.append("--syscall-times=ns" if "syscall-times-ns" in features else "-T")
        if "color" in features:
            argv.append("--color=never")
        if options.syscalls is not None:
            # "?" makes strace accept names this architecture does not have (open on arm64).
            argv += ["-e", "trace=" + ",".join("?" + s for s in options.syscalls)]
            if options.seccomp and "seccomp-bpf" in features:
                argv.append("--seccomp-bpf")
        for name in SINK_ENV:
            argv += ["-E", name]  # the sink's, not the program's
        # installation paths, not user input: the log's path reaches the sink by environment
        sink = f"|exec {shlex.quote(sys.executable)} -I -S {shlex.quote(str(SINK))}"
        argv += ["-o", sink, "--", *target]
        return argv

    def prepare(self, log_path: Path) -> None:
        _private_file(log_path)
        status = _private_file(status_path(log_path))
        try:
            fd = os.open(status, os.O_WRONLY)
            try:
                os.posix_fallocate(fd, 0, STATUS_SIZE)  # the sink writes it on a full disk
            finally:
                os.close(fd)
        except OSError:
            pass

    def program_of(self, tracer_pid: int) -> int | None:
        """strace's child that it traces (not its log sink) and that has exec'd (not one of
        the probe children strace forks at start)."""
        import psutil

        try:
            tracer = psutil.Process(tracer_pid)
            children, tracer_exe = tracer.children(), tracer.exe()
        except psutil.Error:
            return None
        for child in children:
            try:
                if tracer_of(child.pid) == tracer_pid and child.exe() != tracer_exe:
                    return child.pid
            except psutil.Error:
                continue
        return None

    def traced_processes(self, tracer_pid: int) -> list[int]:
        """Every process strace traces, wherever it was reparented (a daemon's double fork)."""
        import psutil

        found = []
        for proc in psutil.process_iter(["pid"]):
            pid = proc.info["pid"]
            if pid != tracer_pid and tracer_of(pid) == tracer_pid:
                found.append(pid)
        return sorted(found)

    def tracer_env(self, log_path: Path) -> dict[str, str]:
        return {
            "SYSCORR_SINK_LOG": str(log_path.resolve()),
            "SYSCORR_SINK_STATUS": str(status_path(log_path).resolve()),
        }

    def exit_of(self, log_path: Path, pid: int) -> ExitStatus | None:
        ending = rb"(?:exited with (\d+)|killed by (SIG\w+))"
        line = re.compile(rb"^%d +%s%s" % (pid, EXIT_MARK, ending), re.M)
        for chunk in _backwards(log_path, EXIT_SCAN_BYTES):
            matches = list(line.finditer(chunk))
            if matches:
                found = matches[-1]
                if found.group(1) is not None:
                    return ExitStatus(int(found.group(1)), None)
                try:
                    return ExitStatus(None, int(signal.Signals[found.group(2).decode()]))
                except KeyError:
                    return None
        return None

    def delivered(self, log_path: Path, pid: int, signo: int, sender: int) -> bool:
        try:
            name = signal.Signals(signo).name
        except ValueError:
            return False
        line = re.compile(
            rb"^%d +%s--- %s \{si_signo=%s, si_code=SI_USER, si_pid=%d,"
            % (pid, STAMP, name.encode(), name.encode(), sender),
            re.M,
        )
        return any(line.search(chunk) for chunk in _backwards(log_path, SIGNAL_SCAN_BYTES))

    def after_run(self, log_path: Path) -> dict:
        return {}  # strace counts nothing beyond its log (the sink's account: capture.json)

    def capture_account(self, log_path: Path) -> dict | None:
        try:
            with open(status_path(log_path), "rb") as f:
                data = f.read(STATUS_SIZE).strip()
            account = json.loads(data) if data else None
        except (OSError, ValueError):
            return None
        return account if isinstance(account, dict) else None


def tracer_of(pid: int) -> int | None:
    """The TracerPid of a process (0: not traced), None when it cannot be read."""
    match = re.search(r"^TracerPid:\s*(\d+)", _read(f"/proc/{pid}/status"), re.M)
    return int(match.group(1)) if match else None


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _private_file(path: Path) -> Path:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    return path


def status_path(log_path: Path) -> Path:
    return log_path.with_name(CAPTURE_STATUS)


def _backwards(path: Path, limit: int, chunk: int = 1 << 20):
    """The file's last `limit` bytes in chunks, the end first, each made of whole lines (a
    line cut by a chunk boundary goes with the earlier chunk)."""
    try:
        f = open(path, "rb")
    except OSError:
        return
    with f:
        end = f.seek(0, os.SEEK_END)
        stop = max(0, end - limit)
        carry = b""
        while end > stop:
            start = max(stop, end - chunk)
            f.seek(start)
            data = f.read(end - start) + carry
            carry = b""
            if start > stop:
                newline = data.find(b"\n")
                if newline < 0:
                    carry, data = data, b""
                else:
                    carry, data = data[: newline + 1], data[newline + 1 :]
            if data:
                yield data
            end = start


def _true_command() -> str:
    return shutil.which("true") or "/bin/true"


@functools.cache
def _help_text(executable: str) -> str:
    try:
        out = subprocess.run([executable, "-h"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout + out.stderr


@functools.cache
def _features(executable: str) -> frozenset[str]:
    text = _help_text(executable)
    found = set()
    if "--absolute-timestamps" in text and "precision" in text:
        found.add("absolute-timestamps-ns")
    if "--syscall-times" in text:
        found.add("syscall-times-ns")
    if "--seccomp-bpf" in text:
        found.add("seccomp-bpf")
    if "--color" in text:
        found.add("color")
    return frozenset(found)


@functools.cache
def _version(executable: str) -> str:
    try:
        out = subprocess.run([executable, "-V"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    match = re.search(r"version\s+(\S+)", out.stdout)
    return match.group(1) if match else "unknown"


def _explain_failure(stderr: str) -> str:
    """Turn strace's complaint into the cause and the fix, in one line."""
    first = next((ln.strip() for ln in stderr.splitlines() if ln.strip()), "no message")
    if "Operation not permitted" not in stderr and "EPERM" not in stderr:
        return f"strace cannot trace here: {first}"
    tracer_pid = _status_field("TracerPid")
    if tracer_pid not in (None, "0"):
        return (
            f"syscorr is itself being traced (by pid {tracer_pid}, a debugger or another strace) "
            "and a process can have only one tracer: run syscorr outside it"
        )
    scope = _read_int("/proc/sys/kernel/yama/ptrace_scope")
    if scope == 3:
        return (
            "ptrace is disabled on this machine (kernel.yama.ptrace_scope=3, only a reboot "
            "lifts it): syscorr cannot trace here"
        )
    if scope == 2 and not _has_capability(CAP_SYS_PTRACE):
        return (
            "ptrace needs CAP_SYS_PTRACE here (kernel.yama.ptrace_scope=2): run as root, or "
            "`sudo sysctl kernel.yama.ptrace_scope=1`"
        )
    if _in_container():
        return (
            "ptrace is not permitted in this container: start it with `--cap-add=SYS_PTRACE` "
            "(and `--security-opt seccomp=unconfined` on older Docker)"
        )
    return f"ptrace is not permitted here ({first}): check seccomp/AppArmor policy for ptrace"


def _read_int(path: str) -> int | None:
    try:
        return int(Path(path).read_text().strip())
    except (OSError, ValueError):
        return None


def _status_field(name: str) -> str | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key == name:
                return value.strip()
    except OSError:
        pass
    return None


def _has_capability(bit: int) -> bool:
    try:
        return bool(int(_status_field("CapEff") or "0", 16) >> bit & 1)
    except ValueError:
        return False


def _in_container() -> bool:
    if Path("/.dockerenv").exists() or Path("/run/.containerenv").exists():
        return True
    try:
        return any(
            k in Path("/proc/1/cgroup").read_text() for k in ("docker", "containerd", "kubepods")
        )
    except OSError:
        return False

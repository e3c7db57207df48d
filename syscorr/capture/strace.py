"""The strace backend: Linux, unprivileged (ptrace of our own child), CLOCK_REALTIME stamps.

Contract: `StraceBackend.check_available()` raises TracerUnavailable naming the fix (install
command, or the ptrace restriction: container capability or yama ptrace_scope) before any target
starts. `command()` builds an argv that follows forks (-f), stamps every line with ns absolute
time (or µs `-ttt` on strace < 6), records time spent in each call (-T), decodes fds (-yy), keeps
`-s N` bytes of strings, writes to a file (never to the terminal the target shares), and keeps
strace's attach messages off the target's stderr (-q). Feature support is read from the
installed strace's own `--help`, not guessed from its version.
"""

import functools
import os
import re
import shutil
import subprocess
from pathlib import Path

from syscorr.capture.backend import CaptureOptions
from syscorr.errors import TracerUnavailable

CAP_SYS_PTRACE = 19


class StraceBackend:
    name = "strace"
    clock = "realtime"
    log_format = "strace"
    log_name = "strace.log"

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
        argv = [self.executable, "-f", "-q", "-yy", "-s", str(options.string_limit)]
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
        argv += ["-o", str(log_path), "--", *target]
        return argv


    def after_run(self, log_path: Path) -> dict:
        return {}  # strace counts nothing beyond its log


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

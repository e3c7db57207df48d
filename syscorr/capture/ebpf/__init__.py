"""The eBPF backend: in-kernel syscall recording (root), CLOCK_MONOTONIC stamps, binary log.

Contract: `EbpfBackend.check_available()` raises TracerUnavailable naming in one line exactly
what is missing and the command that fixes it (not Linux, no kernel BTF, not root / no CAP_BPF
and CAP_PERFMON, build tools absent, a loader that is not there or cannot start), builds the
loader on first use (or when its sources changed) when the tools are there, and finally asks
the kernel itself (`syscorr-ebpf --check` loads and attaches the programs), so "available"
means "works here". The loader is $SYSCORR_EBPF_LOADER or the one built from these sources,
never one found on PATH. `command()` runs the target under the loader (which starts it stopped
and releases it once tracing is armed, see loader.c); `after_run()` returns what the loader
counted (lost and written records per CPU, both clocks at arming and at the end, and in attach
mode the target's exit status when it ended first) for meta.json's backend block.
`choose(name)` turns `--backend auto|strace|ebpf` into a backend and the sentence that says
which was chosen and why.
"""

import functools
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

from syscorr.capture.backend import CaptureOptions, TracerDefaults
from syscorr.capture.ebpf import build
from syscorr.errors import TracerUnavailable, UsageError

CAP_SYS_ADMIN, CAP_PERFMON, CAP_BPF = 21, 38, 39
DATA_MAX = 8192  # record.h: the most payload bytes one record keeps
DEFAULT_RING_MB = 16
STATS_NAME = "ebpf-stats.json"
FIX_TOOLS = f"`{build.INSTALL_HINT} && python -m syscorr.capture.ebpf`"


def _cap_effective() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    except (OSError, ValueError):
        pass
    return 0


def _has_bpf_privilege() -> bool:
    caps = _cap_effective()
    if caps >> CAP_SYS_ADMIN & 1:
        return True
    return bool(caps >> CAP_BPF & 1 and caps >> CAP_PERFMON & 1)


class EbpfBackend(TracerDefaults):
    name = "ebpf"
    clock = "monotonic"
    log_format = "ebpf"
    log_name = "syscalls.ebpf"

    def __init__(self, loader: str | None = None, ring_mb: int = DEFAULT_RING_MB) -> None:
        self._loader = loader or os.environ.get("SYSCORR_EBPF_LOADER")
        self.ring_mb = ring_mb

    @property
    def loader(self) -> str:
        """$SYSCORR_EBPF_LOADER, else the one built from these sources (never one on PATH:
        it would be of another version; check_available() builds it when it is stale)."""
        return self._loader or str(build.default_dir() / build.LOADER)

    def check_available(self) -> None:
        _check_cached(self._loader, self.ring_mb)

    def version(self) -> str:
        return f"syscorr-ebpf {build.source_stamp()} (libbpf CO-RE, kernel {platform.release()})"

    def command(self, target: list[str], log_path: Path, options: CaptureOptions) -> list[str]:
        argv = [
            self.loader,
            "--out",
            str(log_path),
            "--stats",
            str(log_path.parent / STATS_NAME),
            "--string-limit",
            str(min(options.string_limit, DATA_MAX)),
            "--ring-mb",
            str(self.ring_mb),
        ]
        if options.syscalls is None:
            argv.append("--all")
        else:
            argv += ["--syscalls", ",".join(options.syscalls)]
        return [*argv, "--", *target]

    def attach_command(
        self, pid: int, duration: float, log_path: Path, options: CaptureOptions
    ) -> list[str]:
        argv = self.command([], log_path, options)[:-1]
        return [*argv, "--pid", str(pid), "--duration", str(duration)]

    def after_run(self, log_path: Path) -> dict:
        """What the loader counted, for meta.json's backend block (empty if it wrote nothing)."""
        try:
            stats = json.loads((log_path.parent / STATS_NAME).read_text())
        except (OSError, ValueError):
            return {"lost": None, "stats_missing": True}
        lost = stats.get("lost_per_cpu") or []
        return {
            "lost": sum(lost) + sum(stats.get("no_slot_per_cpu") or []),
            "lost_per_cpu": lost,
            "no_slot_per_cpu": stats.get("no_slot_per_cpu"),
            "written_per_cpu": stats.get("written_per_cpu"),
            "ring_bytes": stats.get("ring_bytes"),
            "log_bytes": stats.get("log_bytes"),
            "clocks": stats.get("clocks"),
            "target_exit": stats.get("target_exit"),  # attach: the target's own end, if seen
        }


@functools.cache
def _check_cached(loader_override: str | None, ring_mb: int) -> None:
    if sys.platform != "linux":
        raise TracerUnavailable(
            "the eBPF backend needs Linux (on macOS: `sudo syscorr run --backend dtrace`)"
        )
    if not build.BTF.exists():
        raise TracerUnavailable(
            f"the eBPF backend needs kernel BTF ({build.BTF} is missing: the kernel was built "
            "without CONFIG_DEBUG_INFO_BTF): use `--backend strace`"
        )
    if not _has_bpf_privilege():
        raise TracerUnavailable(
            "the eBPF backend needs root (or CAP_BPF and CAP_PERFMON): run `sudo "
            + " ".join(_own_argv())
            + "`, or use `--backend strace`"
        )
    loader = loader_override
    if loader is None:
        dest = build.default_dir()
        if not build.is_current(dest):
            missing = build.missing_tools()
            if missing:
                raise TracerUnavailable(
                    "the eBPF loader is not built and cannot be: missing "
                    + "; ".join(missing)
                    + f". Fix: {FIX_TOOLS}"
                )
            print("syscorr: building the eBPF loader (once)...", file=sys.stderr)
            build.build(dest)
        loader = str(dest / build.LOADER)
    elif shutil.which(loader) is None and not Path(loader).exists():
        raise TracerUnavailable(
            f"the eBPF loader {loader} does not exist (SYSCORR_EBPF_LOADER): fix the path, or "
            "`unset SYSCORR_EBPF_LOADER` to use syscorr's own (built on first use)"
        )
    verdict = _verdict_path(loader, ring_mb)
    if verdict is not None and verdict.exists():
        return  # the kernel accepted this very loader since the last boot
    try:
        probe = subprocess.run(
            [loader, "--check", "--ring-mb", str(ring_mb)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except OSError as e:
        raise TracerUnavailable(
            f"cannot run the eBPF loader {loader}: {e.strerror}; {_rebuild_hint(loader_override)}"
        ) from e
    except subprocess.TimeoutExpired:
        raise TracerUnavailable(f"the eBPF loader {loader} did not answer in 60 s") from None
    if probe.returncode != 0:
        message = next((ln for ln in probe.stderr.splitlines() if ln.strip()), "no message")
        if not message.startswith("syscorr-ebpf: "):  # it did not get as far as main()
            raise TracerUnavailable(
                f"the eBPF loader {loader} cannot start ({message.strip()}, exit "
                f"{probe.returncode}); {_rebuild_hint(loader_override)}"
            )
        raise TracerUnavailable(
            "the kernel refused syscorr's eBPF programs "
            f"({message.removeprefix('syscorr-ebpf: ')}); "
            "use `--backend strace`"
        )
    if verdict is not None:
        try:
            verdict.touch()
            this_build = verdict.name.rsplit("-", 1)[0] + "-"
            for old in verdict.parent.glob(".checked-*"):
                if not old.name.startswith(this_build):
                    old.unlink(missing_ok=True)  # of an older build or boot
        except OSError:
            pass  # only a cache


def _rebuild_hint(loader_override: str | None) -> str:
    if loader_override is not None:
        return "fix it, or `unset SYSCORR_EBPF_LOADER` to use syscorr's own"
    return "rebuild it: `python -m syscorr.capture.ebpf --force`"


def _verdict_path(loader: str, ring_mb: int) -> Path | None:
    """Where a successful `--check` of this loader is remembered until the next boot (the
    kernel's verdict on the same programs does not change within a boot; privileges are
    checked on every run)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        stat = Path(loader).stat()
    except OSError:
        return None
    key = f"{boot}-{stat.st_mtime_ns}-{stat.st_size}-{ring_mb}"
    return Path(loader).parent / f".checked-{key}"


def _own_argv() -> list[str]:
    argv = list(sys.argv)
    if argv and argv[0].endswith("__main__.py"):
        argv[0] = "syscorr"
    else:
        argv[0] = Path(argv[0]).name if argv else "syscorr"
    return argv


def choose(name: str):
    """(backend, why) for `--backend auto|strace|ebpf`; `why` is None when the user named it."""
    from syscorr.capture.strace import StraceBackend

    if name == "strace":
        return StraceBackend(), None
    if name == "ebpf":
        return EbpfBackend(), None
    if name == "dtrace":
        from syscorr.capture.dtrace import DtraceBackend

        return DtraceBackend(), None
    if name != "auto":
        raise UsageError(f"--backend {name!r}: choose auto, strace, ebpf or dtrace")
    if sys.platform == "darwin":
        from syscorr.capture.dtrace import DtraceBackend

        return DtraceBackend(), "backend dtrace (macOS)"
    if sys.platform != "linux" or not _has_bpf_privilege():
        return StraceBackend(), "backend strace (eBPF needs root or CAP_BPF+CAP_PERFMON)"
    backend = EbpfBackend()
    try:
        backend.check_available()
    except TracerUnavailable as err:
        return StraceBackend(), f"backend strace ({err})"
    return backend, "backend ebpf (root, kernel BTF, loader ready: in-kernel recording)"

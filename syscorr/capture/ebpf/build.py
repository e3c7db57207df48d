"""Build the eBPF loader (`syscorr-ebpf`) from the C sources shipped in this package.

Contract: `build(dest)` compiles syscorr.bpf.c with clang (BPF target, CO-RE against the running
kernel's BTF), embeds it in loader.c through a bpftool skeleton, links against libbpf and writes
`dest/syscorr-ebpf`, plus a stamp (a hash of the sources and the machine) so a stale build is
rebuilt; both are replaced atomically, so a reader sees an old or a new build, never half of
one. Builds into one `dest` take turns (an flock on `dest/.build.lock`): the one that waited
finds the build current and returns it, saying on stderr that it waited. The loader is only
ever the one in `dest`: never looked up on PATH. `missing_tools()` names what is absent, with
the Debian package that provides it. Run as `python -m syscorr.capture.ebpf`
(scripts/bootstrap.d/ebpf.sh does, on a fresh machine). Failures raise `TracerUnavailable`
with the failing command and its first error line.
"""

import fcntl
import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from syscorr.errors import TracerUnavailable

SOURCE_DIR = Path(__file__).resolve().parent
SOURCES = ("syscorr.bpf.c", "loader.c", "record.h", "build.py")
LOADER = "syscorr-ebpf"
BTF = Path("/sys/kernel/btf/vmlinux")
INSTALL_HINT = "sudo apt-get install clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev"
_ARCH = {
    "x86_64": "x86",
    "aarch64": "arm64",
    "arm64": "arm64",
    "s390x": "s390",
    "ppc64le": "powerpc",
    "riscv64": "riscv",
}


def default_dir() -> Path:
    """Where the loader is built: $SYSCORR_EBPF_DIR, else beside the sources when writable
    (a checkout or editable install), else ~/.cache/syscorr/ebpf."""
    if os.environ.get("SYSCORR_EBPF_DIR"):
        return Path(os.environ["SYSCORR_EBPF_DIR"])
    here = SOURCE_DIR / "build"
    if os.access(SOURCE_DIR, os.W_OK):
        return here
    return Path.home() / ".cache" / "syscorr" / "ebpf"


def source_stamp() -> str:
    digest = hashlib.sha256(platform.machine().encode())
    for name in SOURCES:
        digest.update((SOURCE_DIR / name).read_bytes())
    return digest.hexdigest()[:16]


def is_current(dest: Path) -> bool:
    try:
        stamp = (Path(dest) / "stamp").read_text()
    except OSError:
        return False
    return stamp == source_stamp() and (Path(dest) / LOADER).is_file()


def _write_atomically(path: Path, data: bytes, mode: int = 0o644) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class _BuildLock:
    """Builds into one directory take turns (flock; released if the builder dies)."""

    def __init__(self, dest: Path) -> None:
        self.path = dest / ".build.lock"

    def __enter__(self) -> "_BuildLock":
        self.f = open(self.path, "a")
        try:
            fcntl.flock(self.f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"syscorr: another build of the eBPF loader in {self.path.parent} is running; "
                  "waiting for it", file=sys.stderr)  # fmt: skip
            fcntl.flock(self.f, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc) -> None:
        self.f.close()  # releases the lock


def missing_tools() -> list[str]:
    """What the build needs and this machine lacks, each with how to get it."""
    missing = []
    for tool, package in (("clang", "clang"), ("bpftool", "bpftool"), ("cc", "gcc")):
        if shutil.which(tool) is None:
            missing.append(f"{tool} (apt-get install {package})")
    if not Path("/usr/include/bpf/libbpf.h").exists():
        missing.append("libbpf headers (apt-get install libbpf-dev)")
    if not Path("/usr/include/libelf.h").exists():
        missing.append("libelf headers (apt-get install libelf-dev)")
    if not BTF.exists():
        missing.append(f"kernel BTF ({BTF}: a kernel built with CONFIG_DEBUG_INFO_BTF)")
    return missing


def _run(argv: list[str], stdout=None) -> None:
    try:
        proc = subprocess.run(
            argv, stdout=stdout or subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300
        )
    except OSError as e:
        raise TracerUnavailable(f"building the eBPF loader: cannot run {argv[0]}: {e}") from e
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if "error" in ln.lower()] or [
            ln for ln in proc.stderr.splitlines() if ln.strip()
        ]
        first = lines[0].strip() if lines else f"exit {proc.returncode}"
        raise TracerUnavailable(f"building the eBPF loader: `{argv[0]}` failed: {first}")


def syscall_table(compiler: str = "cc") -> list[tuple[str, int]]:
    """(name, number) of every syscall this machine's C library knows (from <sys/syscall.h>)."""
    proc = subprocess.run(
        [compiler, "-E", "-dM", "-"],
        input="#include <sys/syscall.h>\n",
        capture_output=True,
        text=True,
        check=True,
    )
    found = {}
    for m in re.finditer(r"^#define __NR_(\w+) (\d+)$", proc.stdout, re.M):
        found[m.group(1)] = int(m.group(2))
    return sorted(found.items(), key=lambda item: item[1])


def build(dest: Path | None = None, force: bool = False) -> Path:
    """Build the loader into `dest` (default_dir()); returns the loader's path."""
    dest = Path(dest or default_dir())
    if not force and is_current(dest):
        return dest / LOADER
    missing = missing_tools()
    if missing:
        raise TracerUnavailable(
            "cannot build the eBPF loader, missing: " + "; ".join(missing) + f" (`{INSTALL_HINT}`)"
        )
    arch = _ARCH.get(platform.machine(), platform.machine())
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise TracerUnavailable(f"cannot build the eBPF loader in {dest}: {e.strerror}") from e
    with _BuildLock(dest):
        if not force and is_current(dest):
            return dest / LOADER  # built by the one we waited for
        with tempfile.TemporaryDirectory(prefix="syscorr-ebpf-") as tmp:
            work = Path(tmp)
            with open(work / "vmlinux.h", "w") as f:
                _run(["bpftool", "btf", "dump", "file", str(BTF), "format", "c"], stdout=f)
            table = syscall_table()
            rows = ",\n".join(f'    {{"{name}", {nr}}}' for name, nr in table)
            (work / "syscalls_gen.h").write_text(
                "/* generated by syscorr/capture/ebpf/build.py from <sys/syscall.h> */\n"
                "static const struct { const char *name; int nr; } SYSCALLS[] = {\n"
                + rows
                + "\n};\n"
            )
            obj = work / "syscorr.bpf.o"
            _run(
                [
                    "clang",
                    "-O2",
                    "-g",
                    "-target",
                    "bpf",
                    f"-D__TARGET_ARCH_{arch}",
                    f"-I{work}",
                    f"-I{SOURCE_DIR}",
                    "-c",
                    str(SOURCE_DIR / "syscorr.bpf.c"),
                    "-o",
                    str(obj),
                ]
            )
            with open(work / "syscorr.skel.h", "w") as f:
                _run(["bpftool", "gen", "skeleton", str(obj)], stdout=f)
            tmp_loader = work / LOADER
            _run(
                [
                    "cc",
                    "-O2",
                    "-Wall",
                    f"-I{work}",
                    f"-I{SOURCE_DIR}",
                    str(SOURCE_DIR / "loader.c"),
                    "-o",
                    str(tmp_loader),
                    "-lbpf",
                    "-lelf",
                    "-lz",
                ]
            )
            _write_atomically(dest / LOADER, tmp_loader.read_bytes(), 0o755)
        _write_atomically(dest / "stamp", source_stamp().encode())
    return dest / LOADER


def main() -> int:
    force = "--force" in sys.argv[1:]
    try:
        path = build(force=force)
    except TracerUnavailable as err:
        print(f"syscorr: {err}", file=sys.stderr)
        return 1
    print(path)
    return 0

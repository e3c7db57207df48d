"""The eBPF backend end to end: the real loader, real asyncio programs, real loopback sockets.

Ground truth as in test_correlate_engine.py (payloads name the task that sent them, `# BLOCKS`
lines), recorded with `--backend ebpf`: attribution must be 100%. The error messages are tested
by really taking away what the backend needs (root, the build tools). These tests need root and
a kernel with BTF; they skip where that is truly missing, and fail instead of skipping under CI
(CI=true), where it must be there.
"""

import json
import os
import shutil
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from syscorr.analysis.findings import FindingCollector
from syscorr.capture.ebpf import EbpfBackend
from syscorr.correlate.engine import Correlator
from syscorr.correlate.model import IterationItem, StepItem, SyscallItem
from syscorr.errors import TracerUnavailable
from syscorr.parse.ebpf import LOG_HEADER, REC
from syscorr.trace import directory
from syscorr.trace.load import open_trace
from tests import attribution
from tests.conftest import APPS, run_syscorr, syscorr_cmd
from tests.test_correlate_engine import blocks_lines

pytestmark = [pytest.mark.slow, pytest.mark.ebpf]


def _unavailable() -> str | None:
    try:
        EbpfBackend().check_available()
    except TracerUnavailable as err:
        return str(err)
    return None


REASON = _unavailable()
if REASON and os.environ.get("CI"):
    raise RuntimeError(f"the eBPF backend must work in CI: {REASON}")
if REASON:
    pytestmark.append(pytest.mark.skip(reason=f"eBPF backend unavailable here: {REASON}"))


def record(tmp_path_factory, name: str, *argv: str):
    out = tmp_path_factory.mktemp(name) / "trace"
    proc = run_syscorr("run", "-q", "--backend", "ebpf", "-o", str(out), *argv)
    assert proc.returncode == 0, proc.stderr.decode()
    return open_trace(directory.resolve(out))


def items_of(loaded):
    return list(Correlator(loaded.agent_logs, loaded.ignore_paths()).run(loaded.records()))


@pytest.fixture(scope="module")
def echo_trace(tmp_path_factory):
    return record(tmp_path_factory, "echo", str(APPS / "echo.py"), "--clients", "4",
                  "--rounds", "20", "--quiet")  # fmt: skip


def test_echo_every_tagged_send_is_attributed(echo_trace):
    checked, wrong = attribution.check(items_of(echo_trace))
    assert checked == 4 * 20 * 2
    assert wrong == []


def test_echo_meta_names_backend_clock_and_lost_counts(echo_trace):
    backend = echo_trace.meta["backend"]
    assert backend["name"] == "ebpf" and backend["log_format"] == "ebpf"
    assert backend["clock"] == "monotonic"
    assert backend["lost"] == 0 and len(backend["lost_per_cpu"]) == os.cpu_count()
    assert sum(backend["written_per_cpu"]) > 100
    armed, end = backend["clocks"]["armed"], backend["clocks"]["end"]
    assert end["monotonic_ns"] > armed["monotonic_ns"]
    assert (echo_trace.trace.path / "syscalls.ebpf").stat().st_mode & 0o077 == 0
    assert echo_trace.agent_logs[0].meta.get("clock", "monotonic") == "monotonic"


def test_echo_sockets_are_labelled_without_yy(echo_trace):
    labels = {i.fd_label for i in items_of(echo_trace) if type(i) is SyscallItem and i.fd_label}
    tcp = [label for label in labels if label.startswith("TCP 127.0.0.1:") and "->" in label]
    assert len(tcp) >= 8  # 4 client ends and 4 handler ends, addresses read from the kernel
    assert "anon_inode:[eventpoll]" in labels or "anon_inode:eventpoll" in labels


def test_echo_handlers_are_woken_by_their_own_socket(echo_trace):
    items = items_of(echo_trace)
    woken = [
        s
        for s in items
        if type(s) is StepItem and (s.name or "").startswith("handler-") and s.wake
        and s.wake.cause == "fd-ready"
    ]  # fmt: skip
    assert len(woken) >= 4 * 20
    assert any(type(i) is IterationItem for i in items)


def test_tagged_udp_sends_are_attributed(tmp_path_factory):
    loaded = record(tmp_path_factory, "tagged", str(APPS / "tagged.py"), "--tasks", "3",
                    "--rounds", "20")  # fmt: skip
    checked, wrong = attribution.check(items_of(loaded))
    assert checked == 3 * 20
    assert wrong == []


def test_blocking_lines_are_found(tmp_path_factory):
    loaded = record(tmp_path_factory, "blocking", str(APPS / "blocking.py"))
    collector = FindingCollector()
    for item in items_of(loaded):
        collector.add(item)
    assert {f.task: f.frame.line for f in collector.findings} == blocks_lines()


def test_thread_sends_are_attributed_to_the_awaiting_task(tmp_path_factory):
    loaded = record(tmp_path_factory, "to_thread", str(APPS / "to_thread.py"))
    items = items_of(loaded)
    checked, wrong = attribution.check(items)
    assert checked == 3 and wrong == []
    assert all(item.owner == "thread" for _, item in attribution.tagged_sends(items))


def test_child_process_is_followed_from_its_first_instruction(tmp_path_factory):
    loaded = record(tmp_path_factory, "spawn", str(APPS / "spawn.py"), "--echo")
    items = items_of(loaded)
    checked, wrong = attribution.check(items)
    assert checked == 2 * 3 * 2 and wrong == []
    pids = {item.pid for _, item in attribution.tagged_sends(items)}
    assert len(pids) == 1 and pids != {loaded.agent_logs[0].pid}
    execs = [i for i in items if type(i) is SyscallItem and i.call.name == "execve"]
    assert len(execs) >= 2  # the target's own execve is the first thing recorded, then the child


def test_exit_status_and_signal_pass_through(tmp_path):
    proc = run_syscorr("run", "-q", "--backend", "ebpf", "-o", str(tmp_path / "t1"),
                       str(APPS / "exitcode.py"), "7")  # fmt: skip
    assert proc.returncode == 7, proc.stderr.decode()
    code = "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"
    proc = run_syscorr("run", "-q", "--backend", "ebpf", "-o", str(tmp_path / "t2"),
                       "--", sys.executable, "-c", code)  # fmt: skip
    assert proc.returncode == -15
    meta = json.loads((tmp_path / "t2" / "meta.json").read_text())
    assert meta["exit"]["signal_name"] == "SIGTERM"


def test_report_renders_an_ebpf_trace(echo_trace):
    proc = run_syscorr("report", str(echo_trace.trace.path), env=dict(os.environ, COLUMNS="160"))
    assert proc.returncode == 0, proc.stderr.decode()
    assert b"client-" in proc.stdout and b"TCP 127.0.0.1:" in proc.stdout


# ---- what the backend says when something is missing (taken away for real) ----


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping capabilities needs root to start with")
@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) missing")
def test_without_bpf_capabilities_ebpf_says_what_is_missing(tmp_path):
    """Root with every capability dropped (setpriv): the kernel refuses BPF, and so do we."""
    drop = ["setpriv", "--bounding-set=-all", "--inh-caps=-all"]
    loader = subprocess.run([*drop, EbpfBackend().loader, "--check"], capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert loader.returncode != 0 and "Operation not permitted" in loader.stderr  # really denied
    argv = [*drop, sys.executable, "-m", "syscorr", "run", "--backend", "ebpf",
            "-o", str(tmp_path / "t"), str(APPS / "exitcode.py"), "0"]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "needs root (or CAP_BPF and CAP_PERFMON)" in proc.stderr
    assert "run `sudo " in proc.stderr and "--backend strace" in proc.stderr
    assert "Traceback" not in proc.stderr
    # auto falls back to strace and says why (strace needs no capability for its own child)
    argv[argv.index("ebpf")] = "auto"
    argv[argv.index("-o") + 1] = str(tmp_path / "t2")
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "backend strace (eBPF needs root" in proc.stderr
    meta = json.loads((tmp_path / "t2" / "meta.json").read_text())
    assert meta["backend"]["name"] == "strace"


def test_without_build_tools_ebpf_names_them_and_the_fix(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    env = {k: v for k, v in os.environ.items() if k != "SYSCORR_EBPF_LOADER"}
    env.update(PATH=str(bin_dir), SYSCORR_EBPF_DIR=str(tmp_path / "nothing-built"))
    proc = run_syscorr("run", "--backend", "ebpf", "-o", str(tmp_path / "t"),
                       str(APPS / "exitcode.py"), "0", env=env)  # fmt: skip
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert (
        "the eBPF loader is not built and cannot be: missing clang (apt-get install clang)" in err
    )
    assert "bpftool (apt-get install bpftool)" in err
    assert "python -m syscorr.capture.ebpf" in err
    assert not (tmp_path / "t").exists()  # nothing started, no trace left behind


def test_a_loader_that_is_not_there_is_named(tmp_path):
    env = dict(os.environ, SYSCORR_EBPF_LOADER=str(tmp_path / "syscorr-ebpf"))
    proc = run_syscorr("run", "--backend", "ebpf", "-o", str(tmp_path / "t"),
                       str(APPS / "exitcode.py"), "0", env=env)  # fmt: skip
    err = proc.stderr.decode()
    assert proc.returncode == 2 and len(err.splitlines()) == 1, err
    assert f"the eBPF loader {tmp_path / 'syscorr-ebpf'} does not exist" in err
    assert "`unset SYSCORR_EBPF_LOADER`" in err


def test_a_loader_that_cannot_start_is_named_with_the_fix(tmp_path):
    """A loader whose shared library is gone (its copy asks for libbpf.so.9): the dynamic
    linker's message, and how to get a working one, not "the kernel refused"."""
    broken = tmp_path / "syscorr-ebpf"
    data = Path(EbpfBackend().loader).read_bytes()
    assert data.count(b"libbpf.so.1\0") == 1
    broken.write_bytes(data.replace(b"libbpf.so.1\0", b"libbpf.so.9\0"))
    broken.chmod(0o755)
    env = dict(os.environ, SYSCORR_EBPF_LOADER=str(broken))
    proc = run_syscorr("run", "--backend", "ebpf", "-o", str(tmp_path / "t"),
                       str(APPS / "exitcode.py"), "0", env=env)  # fmt: skip
    err = proc.stderr.decode()
    assert proc.returncode == 2 and len(err.splitlines()) == 1, err
    assert f"the eBPF loader {broken} cannot start (" in err and "libbpf.so.9" in err
    assert "kernel refused" not in err and "`unset SYSCORR_EBPF_LOADER`" in err


@pytest.mark.skipif(shutil.which("unshare") is None, reason="unshare (util-linux) missing")
def test_without_kernel_btf_ebpf_says_so_and_auto_takes_strace(tmp_path):
    """/sys/kernel/btf hidden under an empty tmpfs (a private mount namespace): the one-line
    reason and what to use instead; auto falls back to strace."""
    hide = ("import os, subprocess, sys; "
            "subprocess.run(['mount', '-t', 'tmpfs', 'none', '/sys/kernel/btf'], check=True); "
            "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])")  # fmt: skip

    def run(backend: str, out: str) -> subprocess.CompletedProcess:
        argv = ["unshare", "-m", sys.executable, "-c", hide, "-m", "syscorr", "run", "--backend",
                backend, "-o", str(tmp_path / out), str(APPS / "exitcode.py"), "0"]  # fmt: skip
        return subprocess.run(argv, capture_output=True, text=True, timeout=120)

    proc = run("ebpf", "t")
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert "needs kernel BTF (/sys/kernel/btf/vmlinux is missing" in proc.stderr
    assert "use `--backend strace`" in proc.stderr
    proc = run("auto", "t2")
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "t2" / "meta.json").read_text())["backend"]["name"] == "strace"


def test_the_loader_is_never_taken_from_path(tmp_path):
    """A stale build (an old stamp) and a `syscorr-ebpf` on PATH: the backend names and runs
    the one it builds from its own sources, never the one on PATH."""
    dest, bin_dir = tmp_path / "build", tmp_path / "bin"
    shutil.copytree(Path(EbpfBackend().loader).parent, dest)
    (dest / "stamp").write_text("stale")
    bin_dir.mkdir()
    impostor = bin_dir / "syscorr-ebpf"
    impostor.write_text('#!/bin/sh\ntouch "$IMPOSTOR_RAN"\nexit 1\n')
    impostor.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "SYSCORR_EBPF_LOADER"}
    env.update(PATH=f"{bin_dir}:{env['PATH']}", SYSCORR_EBPF_DIR=str(dest),
               IMPOSTOR_RAN=str(tmp_path / "impostor-ran"))  # fmt: skip
    named = subprocess.run([sys.executable, "-c", "from syscorr.capture.ebpf import EbpfBackend; "
                            "print(EbpfBackend().loader)"], env=env, capture_output=True,
                           text=True, check=True)  # fmt: skip
    assert named.stdout.strip() == str(dest / "syscorr-ebpf")
    proc = run_syscorr("run", "-q", "--backend", "ebpf", "-o", str(tmp_path / "t"),
                       str(APPS / "exitcode.py"), "0", env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()
    assert b"building the eBPF loader" in proc.stderr  # the stale stamp was noticed
    assert (dest / "stamp").read_text() != "stale" and not (tmp_path / "impostor-ran").exists()
    meta = json.loads((tmp_path / "t" / "meta.json").read_text())
    assert meta["backend"]["argv"][0] == str(dest / "syscorr-ebpf")


def test_two_builds_at_once_take_turns(tmp_path):
    """Two `python -m syscorr.capture.ebpf` into one empty directory at once: one compiles
    (clang, counted through a wrapper on PATH), the other waits for it and takes its build."""
    bin_dir, count = tmp_path / "bin", tmp_path / "clang-runs"
    bin_dir.mkdir()
    wrapper = bin_dir / "clang"
    wrapper.write_text('#!/bin/sh\necho run >> "$CLANG_RUNS"\nexec "$REAL_CLANG" "$@"\n')
    wrapper.chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", CLANG_RUNS=str(count),
               REAL_CLANG=shutil.which("clang"),
               SYSCORR_EBPF_DIR=str(tmp_path / "build"))  # fmt: skip
    argv = [sys.executable, "-m", "syscorr.capture.ebpf"]
    builds = [subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True) for _ in range(2)]  # fmt: skip
    outs = [b.communicate(timeout=300) for b in builds]
    assert [b.returncode for b in builds] == [0, 0], outs
    assert {out for out, _ in outs} == {f"{tmp_path / 'build' / 'syscorr-ebpf'}\n"}
    assert count.read_text().splitlines() == ["run"]
    check = subprocess.run([str(tmp_path / "build" / "syscorr-ebpf"), "--check"],
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert check.returncode == 0 and check.stdout == "ok\n", check.stderr


def test_lost_records_are_counted_and_reported(tmp_path):
    """A 1 MiB ring buffer, a consumer held back for 3 s (the loader's test hook) and 100,000
    writes: the kernel drops what does not fit, the loader counts it per CPU, meta.json stores
    it, the report warns, and every write is either in the log or counted."""
    code = (
        "import os\n"
        "fd = os.open(os.devnull, os.O_WRONLY)\n"
        "for _ in range(100000): os.write(fd, b'x')\n"
    )
    out = tmp_path / "t"
    env = dict(os.environ, SYSCORR_EBPF_TEST_STALL_MS="3000")
    proc = run_syscorr("run", "-q", "--backend", "ebpf", "--ebpf-buffer-mb", "1", "-o", str(out),
                       "--", sys.executable, "-c", code, env=env, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()
    backend = json.loads((out / "meta.json").read_text())["backend"]
    assert backend["lost"] > 0
    assert backend["lost"] == sum(backend["lost_per_cpu"]) + sum(backend["no_slot_per_cpu"])
    loaded = open_trace(directory.resolve(out))
    writes = sum(1 for r in loaded.records() if type(r).__name__ == "Syscall" and r.name == "write"
                 and r.args.endswith('"x", 1'))  # fmt: skip
    assert 0 < writes < 100000 <= writes + backend["lost"]
    report = run_syscorr("report", str(out))
    assert b"eBPF ring buffer dropped" in report.stdout + report.stderr


def test_unchanged_program_output(tmp_path):
    code = "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"
    proc = run_syscorr("run", "-q", "--backend", "ebpf", "-o", str(tmp_path / "t"), "--",
                       sys.executable, "-c", code)  # fmt: skip
    assert proc.returncode == 3
    assert proc.stdout == b"out\n" and proc.stderr == b"err\n"


def test_path_of_loader_is_recorded(echo_trace):
    argv = echo_trace.meta["backend"]["argv"]
    assert Path(argv[0]).name == "syscorr-ebpf" and "--" in argv


def test_attach_records_a_running_aiohttp_server_for_a_while(tmp_path):
    """A real PyPI server, started untraced; `syscorr attach` records it while a client loads
    it, and says that the trace holds syscalls only (3.12/3.13 have no sys.remote_exec)."""
    import urllib.request

    pytest.importorskip("aiohttp")
    portfile = tmp_path / "port"
    server = subprocess.Popen([sys.executable, str(APPS / "aiohttp_server.py"), str(portfile)])
    try:
        deadline = time.monotonic() + 30
        while not portfile.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{portfile.read_text()}"
        stop = threading.Event()

        def load() -> None:
            n = 0
            while not stop.is_set() and n < 2000:
                urllib.request.urlopen(f"{base}/echo?task=c{n}", timeout=10).read()
                n += 1
                time.sleep(0.01)

        client = threading.Thread(target=load)
        client.start()
        out = tmp_path / "t"
        proc = run_syscorr("attach", str(server.pid), "--duration", "1.5", "-o", str(out))
        stop.set()
        client.join()
        err = proc.stderr.decode()
        assert proc.returncode == 0, err
        assert "syscalls only: the target runs Python 3." in err and "sys.remote_exec" in err
        loaded = open_trace(directory.resolve(out))
        assert loaded.meta["kind"] == "attach" and loaded.meta["backend"]["lost"] == 0
        items = items_of(loaded)
        sends = [i for i in items if type(i) is SyscallItem and i.io == "out"
                 and i.call.data() is not None and b"echo-of=c" in i.call.data().data]  # fmt: skip
        assert len(sends) >= 5
        assert all(i.pid == server.pid and i.fd_label.startswith("TCP 127.0.0.1:") for i in sends)
        assert any("sys.remote_exec" in w for w in loaded.warnings)
        urllib.request.urlopen(f"{base}/stop", timeout=10).read()
        assert server.wait(timeout=30) == 0  # untouched by the attach
    finally:
        if server.poll() is None:
            server.kill()


def test_attach_to_a_missing_process_says_so(tmp_path):
    proc = run_syscorr("attach", "999999999", "-d", "1", "-o", str(tmp_path / "t"))
    assert proc.returncode == 2 and b"no process 999999999" in proc.stderr


def test_auto_takes_ebpf_where_it_works_and_says_so(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "SYSCORR_BACKEND"}
    proc = run_syscorr("run", "-o", str(tmp_path / "t"), str(APPS / "exitcode.py"), "0", env=env)
    assert proc.returncode == 0, proc.stderr.decode()
    assert b"backend ebpf (root, kernel BTF" in proc.stderr
    meta = json.loads((tmp_path / "t" / "meta.json").read_text())
    assert meta["backend"]["name"] == "ebpf" and meta["backend"]["chosen_because"]


def test_echo_on_uvloop_every_tagged_send_is_attributed(tmp_path_factory):
    pytest.importorskip("uvloop")
    loaded = record(tmp_path_factory, "uvloop", str(APPS / "echo.py"), "--uvloop", "--clients",
                    "3", "--rounds", "10", "--quiet")  # fmt: skip
    checked, wrong = attribution.check(items_of(loaded))
    assert checked == 3 * 10 * 2
    assert wrong == []


# ---- children and threads: whose fds, which thread ----


@pytest.fixture(scope="module")
def children_trace(tmp_path_factory):
    """fixtures/apps/children.py run with its stdout on a file (the parent's fd 1)."""
    where = tmp_path_factory.mktemp("children")
    out, spawn_out = where / "t", where / "spawn-out"
    with open(where / "parent-out", "wb") as stdout:
        proc = subprocess.run(syscorr_cmd("run", "-q", "--backend", "ebpf", "-o", str(out),
                                          str(APPS / "children.py"), str(spawn_out),
                                          "--exec-from-thread"),
                              stdout=stdout, stderr=subprocess.PIPE, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()
    assert spawn_out.read_bytes() == b"spawn-child"
    assert (where / "parent-out").read_bytes() == b"after-exec"
    return open_trace(directory.resolve(out)), spawn_out


def test_children_write_to_their_own_fds_not_their_parents(children_trace):
    """A vfork child (subprocess) dup2s a pipe onto stdout and a posix_spawn child opens a file
    there, both before the parent's vfork/clone3 returns; a fork child writes to an inherited
    socket. Each write is labelled with the child's own fd, not the parent's stdout (a file)."""
    loaded, spawn_out = children_trace
    labels = {}
    for item in items_of(loaded):
        data = item.call.data() if type(item) is SyscallItem and item.call.name == "write" else None
        if data is not None and data.data.endswith(b"-child"):
            labels[data.data.decode()] = (item.pid, item.fd_label)
    assert set(labels) == {"vfork-child", "spawn-child", "fork-child"}
    assert len({pid for pid, _ in labels.values()} | {loaded.meta["exit"]["pid"]}) == 4
    assert labels["vfork-child"][1] == "pipe"
    assert labels["spawn-child"][1] == str(spawn_out)
    assert labels["fork-child"][1].startswith("TCP 127.0.0.1:") and "->" in labels["fork-child"][1]


def test_execve_by_a_thread_is_recorded_under_that_thread(children_trace):
    """A thread other than the main one execve's: the kernel gives it the process's id. The
    call is recorded whole (path, result) under the thread that made it, the old main thread
    is said to be superseded (as strace says), and the new program runs as the process."""
    loaded, _ = children_trace
    root = loaded.meta["exit"]["pid"]
    records = list(loaded.records())
    execs = [r for r in records if type(r).__name__ == "Syscall" and r.name == "execve"]
    assert [r.tid for r in execs].count(root) == 1  # its own start
    by_thread = [r for r in execs if _is_thread_of(records, r.tid, root)]
    assert len(by_thread) == 1, [(r.tid, r.lineno) for r in execs]
    caller = by_thread[0]
    assert caller.retval == 0 and not caller.unfinished
    assert caller.data().data == os.fsencode(sys.executable)
    superseded = [r for r in records if type(r).__name__ == "ExitRecord"
                  and r.kind == "superseded"]  # fmt: skip
    assert [(r.tid, r.code) for r in superseded] == [(root, caller.tid)]
    write = next(r for r in records if type(r).__name__ == "Syscall" and r.name == "write"
                 and r.args.endswith('"after-exec", 10'))  # fmt: skip
    assert write.tid == root and write.lineno > caller.lineno


def _is_thread_of(records, tid: int, pid: int) -> bool:
    """Whether `pid` made thread `tid` (a clone with CLONE_THREAD returned it)."""
    return any(type(r).__name__ == "Syscall" and r.tid == pid and r.name.startswith("clone")
               and r.retval == tid and "CLONE_THREAD" in r.args for r in records)  # fmt: skip


# ---- a damaged log ----


def test_a_damaged_log_is_reported_where_it_is_and_read_past(echo_trace, tmp_path):
    """A recorded log with garbage put in the middle and an fd record whose blobs lie about
    what they hold: `syscorr report` says how many records could not be read and where the
    first is, and reads everything after the damage (no traceback)."""
    trace = tmp_path / "damaged"
    shutil.copytree(echo_trace.trace.path, trace)
    log = trace / "syscalls.ebpf"
    data = log.read_bytes()
    offsets, at = [], LOG_HEADER.size
    while at < len(data):
        offsets.append(at)
        at += struct.unpack_from("<I", data, at + 4)[0]
    fdinfo = next(at for at in offsets if struct.unpack_from("<H", data, at)[0] == 3)
    fields = list(REC.unpack_from(data, fdinfo))
    fields[14:17] = [fields[14] - 5, fields[15], 5]  # 5 bytes of "socket info"
    middle = offsets[len(offsets) // 2]
    data = (data[:fdinfo] + REC.pack(*fields) + data[fdinfo + REC.size : middle]
            + b"\xff" * 100 + data[middle:])  # fmt: skip
    log.write_bytes(data)
    proc = run_syscorr("report", str(trace), env=dict(os.environ, COLUMNS="160"))
    out = (proc.stdout + proc.stderr).decode()
    assert proc.returncode == 0 and "Traceback" not in out, out
    first = offsets.index(fdinfo) + 1
    assert f"2 lines could not be parsed, first at line {first}" in out
    damaged = list(open_trace(directory.resolve(trace)).records())
    whole = list(echo_trace.records())
    assert [r.reason for r in damaged if type(r).__name__ == "Unparsed"] == [
        f"cannot read the record at byte {fdinfo}: unpack requires a buffer of 56 bytes",
        f"damaged record at byte {middle}: 100 bytes skipped",
    ]
    assert damaged[-1][1:] == whole[-1][1:]  # the end is read (its ordinal is one more)


# ---- attach: what it records, what it refuses, when it ends ----

BEATING = """
import os, sys, threading, time
r, w = os.pipe()
def beat():
    while True:
        os.write(w, b"beat")
        os.read(r, 4)
        time.sleep(0.01)
thread = threading.Thread(target=beat, daemon=True)
thread.start()
print(thread.native_id, flush=True)
sys.exit(int(sys.stdin.readline() or 0))
"""


def _started(code: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    return proc, proc.stdout.readline().strip()


def _armed(log: Path, attach: subprocess.Popen) -> None:
    """Wait until the loader has flushed its log's head: it does once tracing is armed."""
    while attach.poll() is None and (not log.exists() or log.stat().st_size == 0):
        time.sleep(0.02)


def test_attach_to_a_thread_records_its_process(tmp_path):
    """The id of a thread (as top -H shows it) names its process: recorded, and said; the
    pipe it writes to was open before the attach, labelled from the loader's /proc scan."""
    target, tid = _started(BEATING)
    try:
        out = tmp_path / "t"
        proc = run_syscorr("attach", tid, "-d", "1", "-o", str(out))
        err = proc.stderr.decode()
        assert proc.returncode == 0, err
        assert f"{tid} is a thread of process {target.pid}: recording the process" in err
        loaded = open_trace(directory.resolve(out))
        assert loaded.meta["attach"]["pid"] == target.pid
        beats = [i for i in items_of(loaded) if type(i) is SyscallItem and i.call.name == "write"
                 and i.call.data() is not None and i.call.data().data == b"beat"]  # fmt: skip
        assert len(beats) >= 5
        assert {(i.call.tid, i.fd_label) for i in beats} == {(int(tid), "pipe")}
    finally:
        target.communicate("0\n", timeout=30)


def test_attach_refuses_a_kernel_thread(tmp_path):
    kernel = next((int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()
                   and _is_kthread(p)), None)  # fmt: skip
    if kernel is None:
        pytest.skip("no kernel thread visible in this pid namespace")
    proc = run_syscorr("attach", str(kernel), "-d", "30", "-o", str(tmp_path / "t"))
    err = proc.stderr.decode()
    assert proc.returncode == 2 and len(err.splitlines()) == 2, err  # what it does, the refusal
    assert f"error: {kernel} is a kernel thread (" in err and "give the pid of a user" in err
    assert not (tmp_path / "t").exists()


def _is_kthread(proc_dir: Path) -> bool:
    try:
        return bool(int((proc_dir / "stat").read_text().rpartition(")")[2].split()[6]) & 0x200000)
    except (OSError, IndexError, ValueError):
        return False


def test_attach_refuses_a_process_that_has_exited(tmp_path):
    """A zombie (exited, its parent, this test, has not reaped it): nothing to record."""
    target = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        status = Path(f"/proc/{target.pid}/status")
        while "State:\tZ" not in status.read_text():
            time.sleep(0.02)
        proc = run_syscorr("attach", str(target.pid), "-d", "30", "-o", str(tmp_path / "t"))
        err = proc.stderr.decode()
        assert proc.returncode == 2, err
        assert f"process {target.pid} has exited already (a zombie" in err
    finally:
        target.wait()


def test_attach_ends_when_the_process_exits_and_says_how(tmp_path):
    """The target exits with 3 once tracing is armed and stays a zombie until the attach is
    done (this test reaps it after): the attach, asked for 600 s, ends there and says so;
    meta.json has the exit code."""
    target, _ = _started(BEATING)
    out = tmp_path / "t"
    attach = subprocess.Popen(syscorr_cmd("attach", str(target.pid), "-d", "600", "-o",
                                          str(out)), stderr=subprocess.PIPE)  # fmt: skip
    try:
        _armed(out / "syscalls.ebpf", attach)
        target.stdin.write("3\n")
        target.stdin.flush()
        _, err = attach.communicate(timeout=120)  # before: the full 600 s (a zombie answers kill 0)
    finally:
        if attach.poll() is None:
            attach.kill()
        target.communicate(timeout=30)
    err = err.decode()
    assert attach.returncode == 0, err
    assert f"process {target.pid} exited with 3 " in err and "that ended the recording" in err
    meta = json.loads((out / "meta.json").read_text())
    assert meta["exit"]["code"] == 3 and meta["exit"]["target_exited"] is True
    assert meta["exit"]["stopped_early"] is False
    records = list(open_trace(directory.resolve(out)).records())
    assert [r.code for r in records if type(r).__name__ == "ExitRecord"] == [3]

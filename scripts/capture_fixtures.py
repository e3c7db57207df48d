"""Record fixtures/strace/*.log by running the real strace on small asyncio programs.

Contract: `python scripts/capture_fixtures.py [--strace PATH] [--python PATH] [--only NAME...]`
runs /usr/bin/strace once per output variant syscorr must read (flags from issue 3) on the
programs in fixtures/apps/ (or tiny inline asyncio programs where a variant needs a special
event: exec from a thread, attach/detach mid-call), and writes fixtures/strace/<variant>.log.
Logs are kept small with `-e trace=` sets; any log still longer than MAX_LINES keeps its first
MAX_LINES lines (the `-C` log is never cut, its summary table is at the end).

Derived fixtures (cannot be recorded with strace 6.1 here) are made from recorded lines:
- `pre5_resumed_space.log`: copied from `threads_yy.log` with one space inserted after every
  `resumed>` (strace < 5.0 printed `<... epoll_wait resumed> [{...`).
- `color.log`: lines of `tt_T.log` wrapped in ANSI SGR colour codes the way a colouring strace
  (7.x, `--color=always`) highlights the pid, name and error (\x1b[...m ... \x1b[0m).
Re-running this script changes pids, ports and times: update the pins in tests/test_parse_*.py.
The Python that runs the apps must be 3.12+ (found in pyenv if `--python` is not given).
"""

import argparse
import re
import resource
import shutil
import subprocess
import tempfile
from pathlib import Path

from pythons import find_python

ROOT = Path(__file__).resolve().parent.parent
APPS = ROOT / "fixtures" / "apps"
OUT = ROOT / "fixtures" / "strace"
MAX_LINES = 300

NET = (
    "trace=epoll_wait,epoll_pwait,epoll_ctl,sendto,recvfrom,connect,accept4,getsockname,exit_group"
)
THREADS = "trace=epoll_wait,sendto,recvfrom,connect,accept4,clone3,exit_group"
# every call the fd table learns a socket's addresses from (-y and no decoding: issue 13)
SOCKETS = (
    "trace=socket,socketpair,bind,listen,connect,accept4,getsockname,getpeername,sendto,"
    "recvfrom,close,exit_group"
)
ECHO = ["echo.py", "--clients", "2", "--rounds", "2", "--quiet"]

SUPERSEDE_APP = """import asyncio, os
async def main():
    await asyncio.to_thread(os.execv, "/bin/true", ["/bin/true"])
asyncio.run(main())
"""
SLEEP_APP = "import asyncio; asyncio.run(asyncio.sleep(3))"

# name -> (strace flags, program argv after the interpreter)
VARIANTS: dict[str, tuple[list[str], list[str]]] = {
    "f_o": (["-f", "-e", NET], ECHO),
    "no_f": (["-e", NET], ECHO),
    "t": (["-f", "-t", "-e", NET], ECHO),
    "tt": (["-f", "-tt", "-e", NET], ECHO),
    "ttt": (["-f", "-ttt", "-e", NET], ECHO),
    "abs_ns": (["-f", "--absolute-timestamps=format:unix,precision:ns", "-e", NET], ECHO),
    "r": (["-f", "-r", "-e", NET], ECHO),
    "tt_T": (["-f", "-tt", "-T", "-e", NET], ECHO),
    "T_ns": (["-f", "--syscall-times=ns", "-e", NET], ECHO),
    "y": (["-f", "-y", "-e", NET], ECHO),
    "yy": (["-f", "-yy", "-e", NET], ECHO),
    "sockets_y": (["-f", "-y", "-e", SOCKETS], ECHO),
    "sockets_yy": (["-f", "-yy", "-e", SOCKETS], ECHO),
    "threads_yy": (["-f", "-yy", "-T", "-e", THREADS], ["to_thread.py"]),
    "x": (["-f", "-x", "-e", "trace=sendto,recvfrom,read", "-e", "read=none"], ECHO),
    "xx": (["-f", "-xx", "-e", "trace=sendto,recvfrom,connect"], ECHO),
    "X_raw": (["-f", "-X", "raw", "-e", NET], ECHO),
    "X_verbose": (["-f", "-X", "verbose", "-e", NET], ECHO),
    "Y": (["-f", "-Y", "-e", NET], ECHO),
    "n": (["-f", "-n", "-e", NET], ECHO),
    "i": (["-f", "-i", "-e", NET], ECHO),
    "n_i_tt_yy": (["-f", "-n", "-i", "-tt", "-yy", "-e", NET], ["seed.py"]),
    "k": (["-f", "-k", "-e", "trace=connect,exit_group"], ECHO),
    "e_write": (["-f", "-e", "trace=sendto,write", "-e", "write=all"], ECHO),
    "C": (["-f", "-C", "-e", NET], ECHO),
    "s_small": (["-f", "-s", "4", "-e", NET], ["echo.py", "--clients", "40", "--rounds", "1"]),
    "spawn": (
        ["-f", "-tt", "-e", "trace=execve,clone,clone3,wait4,epoll_wait,exit_group"],
        ["spawn.py"],
    ),
    "crash": (["-f", "-e", "trace=kill,exit_group"], ["crash.py", "20"]),
    "core": (["-f", "-e", "trace=kill,tgkill"], ["exitcode.py", "SIGABRT"]),
    "supersede": (["-f", "-e", "trace=execve,futex"], ["-c", SUPERSEDE_APP]),
}


def allow_core_dump() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def cap(path: Path) -> None:
    lines = path.read_bytes().splitlines(keepends=True)
    if len(lines) > MAX_LINES and path.name != "C.log":
        path.write_bytes(b"".join(lines[:MAX_LINES]))


def app_argv(python: str, args: list[str]) -> list[str]:
    if args[0] == "-c":
        return [python, *args]
    return [python, str(APPS / args[0]), *args[1:]]


def record(strace: str, python: str, name: str, flags: list[str], args: list[str], cwd: str):
    out = OUT / f"{name}.log"
    cmd = [strace, *flags, "-o", str(out), *app_argv(python, args)]
    subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, preexec_fn=allow_core_dump)
    cap(out)


def record_ff(strace: str, python: str, cwd: str) -> None:
    """`-ff -o ff`: one file per thread, named ff.<tid>; renamed to ff.log.<n>.<tid>."""
    for old in OUT.glob("ff.*"):
        old.unlink()
    prefix = Path(cwd) / "ff"
    cmd = [strace, "-ff", "-tt", "-yy", "-e", THREADS, "-o", str(prefix)]
    subprocess.run([*cmd, *app_argv(python, ["to_thread.py"])], cwd=cwd, stdout=subprocess.DEVNULL)
    for path in sorted(Path(cwd).glob("ff.*")):
        dest = OUT / f"ff.log.{path.name.split('.')[-1]}"
        shutil.copyfile(path, dest)
        cap(dest)


def record_stderr(strace: str, python: str, cwd: str) -> None:
    """No -o: strace writes `[pid N]` prefixes and its own messages to stderr, spliced."""
    with open(OUT / "stderr_pid.log", "wb") as err:
        cmd = [strace, "-f", "-e", THREADS, *app_argv(python, ["to_thread.py"])]
        subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)
    cap(OUT / "stderr_pid.log")


def record_detached(strace: str, python: str, cwd: str) -> None:
    """Attach to a program sleeping in epoll_wait, then interrupt strace: `<detached ...>`."""
    target = subprocess.Popen([python, "-c", SLEEP_APP], cwd=cwd)
    try:
        subprocess.run(["sleep", "0.5"])
        tracer = subprocess.Popen(
            [strace, "-tt", "-o", str(OUT / "detached.log"), "-p", str(target.pid)],
            stderr=subprocess.DEVNULL,
        )
        subprocess.run(["sleep", "0.5"])
        tracer.send_signal(2)
        tracer.wait()
    finally:
        target.wait()


def derive_pre5() -> None:
    text = (OUT / "threads_yy.log").read_text(errors="surrogateescape")
    (OUT / "pre5_resumed_space.log").write_text(
        text.replace(" resumed>", " resumed> "), errors="surrogateescape"
    )


COLOR_LINE = re.compile(r"^(\d+)(\s+\S+\s+)([a-z_0-9]+)(\(.*?)( E[A-Z]+ )?(\(.*\))?$")


def derive_color() -> None:
    out = []
    for line in (OUT / "tt_T.log").read_text().splitlines()[:60]:
        m = COLOR_LINE.match(line)
        if not m:
            out.append(line)
            continue
        pid, mid, name, rest, err, errtext = m.groups()
        colored = f"\x1b[33m{pid}\x1b[0m{mid}\x1b[1m{name}\x1b[0m{rest}"
        if err:
            colored += f"\x1b[31m{err}\x1b[0m{errtext or ''}"
        else:
            colored += errtext or ""
        out.append(colored)
    (OUT / "color.log").write_text("\n".join(out) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strace", default="/usr/bin/strace")
    parser.add_argument("--python")
    parser.add_argument("--only", nargs="*")
    opts = parser.parse_args()
    python = find_python("capture_fixtures", opts.python)
    OUT.mkdir(parents=True, exist_ok=True)
    wanted = set(opts.only or [*VARIANTS, "ff", "stderr_pid", "detached", "derived"])
    with tempfile.TemporaryDirectory() as cwd:
        for name, (flags, args) in VARIANTS.items():
            if name in wanted:
                record(opts.strace, python, name, flags, args, cwd)
        if "ff" in wanted:
            record_ff(opts.strace, python, cwd)
        if "stderr_pid" in wanted:
            record_stderr(opts.strace, python, cwd)
        if "detached" in wanted:
            record_detached(opts.strace, python, cwd)
    if "derived" in wanted:
        derive_pre5()
        derive_color()
    for path in sorted(OUT.iterdir()):
        print(f"{path.name:28} {len(path.read_bytes().splitlines()):5} lines")


if __name__ == "__main__":
    main()

"""Named sets of syscalls to record (`syscorr run --syscalls NAME|LIST`).

Contract: `resolve(spec)` turns the user's `--syscalls` value into (set name, tuple of names
or None for all). The `asyncio` preset covers what an event loop, its sockets, pipes, file I/O,
timers, threads and child processes do, and leaves out the noise (memory management, futex,
signal masks) that dominates an unfiltered trace.
"""

from syscorr.errors import UsageError
from syscorr.parse.vocabulary import LINUX_SELECTOR_WAITS

# The selector waits of every kind asyncio's selectors use, and epoll's set-up.
LOOP_WAITS = ("epoll_create", "epoll_create1", "epoll_ctl", *LINUX_SELECTOR_WAITS)
SOCKETS = (
    "socket",
    "socketpair",
    "bind",
    "listen",
    "accept",
    "accept4",
    "connect",
    "shutdown",
    "getsockname",
    "getpeername",
    "getsockopt",
    "setsockopt",
    "sendto",
    "recvfrom",
    "sendmsg",
    "recvmsg",
    "sendmmsg",
    "recvmmsg",
)
FILES_AND_PIPES = (
    "read",
    "write",
    "readv",
    "writev",
    "pread64",
    "pwrite64",
    "preadv",
    "pwritev",
    "open",
    "openat",
    "openat2",
    "close",
    "pipe",
    "pipe2",
    "eventfd2",
    "dup",
    "dup2",
    "dup3",
    "fcntl",
    "ioctl",
    "fsync",
    "fdatasync",
    "sendfile",
)
TIME_AND_SLEEP = ("nanosleep", "clock_nanosleep")
# A sleep or poll interrupted by a signal (under strace, any signal: SIGCHLD too) goes on as
# restart_syscall: without it the rest of the blocking period is invisible.
RESTART = ("restart_syscall",)
PROCESSES = (
    "clone",
    "clone3",
    "fork",
    "vfork",
    "execve",
    "execveat",
    "wait4",
    "waitid",
    "kill",
    "tgkill",
    "exit",
    "exit_group",
    "pidfd_open",
)

PRESETS: dict[str, tuple[str, ...] | None] = {
    "asyncio": LOOP_WAITS + SOCKETS + FILES_AND_PIPES + TIME_AND_SLEEP + RESTART + PROCESSES,
    "network": LOOP_WAITS + SOCKETS + ("close",) + RESTART + PROCESSES,
    "all": None,
}


def resolve(spec: str) -> tuple[str, tuple[str, ...] | None]:
    """`asyncio` | `network` | `all` | a comma-separated list of syscall names."""
    spec = spec.strip()
    if spec in PRESETS:
        return spec, PRESETS[spec]
    names = tuple(n.strip() for n in spec.split(",") if n.strip())
    if not names:
        raise UsageError(
            f"--syscalls {spec!r} names no syscall: use a preset "
            f"({', '.join(PRESETS)}) or a list such as epoll_wait,recvfrom,sendto"
        )
    bad = [n for n in names if not n.replace("_", "").isalnum()]
    if bad:
        raise UsageError(f"--syscalls: {bad[0]!r} is not a syscall name")
    return "custom", names

"""The syscall vocabulary: which calls wait for the loop, move bytes, or make fds.

Contract: frozensets of syscall names (as strace and dtruss print them), the one place every
layer asks: capture (what to record), correlation (loop waits, I/O, the fd table), analysis and
renderers (bytes in and out). `io_direction(name)` is "in", "out" or None.
"""

# The calls an event loop's selector waits in (Linux; kevent for dtruss logs from macOS).
LINUX_SELECTOR_WAITS = (
    "epoll_wait", "epoll_pwait", "epoll_pwait2", "poll", "ppoll", "select", "pselect6",
)  # fmt: skip
SELECTOR_WAITS = frozenset((*LINUX_SELECTOR_WAITS, "kevent", "kevent64"))
EPOLL_WAITS = frozenset({"epoll_wait", "epoll_pwait", "epoll_pwait2"})

# Calls that move payload bytes: their return value is the number of bytes moved.
INPUT_CALLS = frozenset({"read", "readv", "recv", "recvfrom", "recvmsg", "pread64", "preadv"})
OUTPUT_CALLS = frozenset(
    {"write", "writev", "send", "sendto", "sendmsg", "pwrite64", "pwritev", "sendfile"}
)

# Calls whose return value is a new fd.
RETURNS_FD = frozenset(
    {
        "socket", "accept", "accept4", "open", "openat", "openat2", "creat", "epoll_create",
        "epoll_create1", "eventfd", "eventfd2", "dup", "dup2", "dup3", "timerfd_create",
        "signalfd", "signalfd4", "inotify_init", "inotify_init1", "memfd_create", "pidfd_open",
    }
)  # fmt: skip
# Calls that create two fds, printed in an array argument.
PAIR_CALLS = frozenset({"pipe", "pipe2", "socketpair"})
# Calls whose first argument is not an fd.
NO_FD_ARG = frozenset(
    {
        "socket", "socketpair", "pipe", "pipe2", "open", "openat2", "creat", "execve", "clone",
        "clone3", "fork", "vfork", "wait4", "waitid", "kill", "tgkill", "exit", "exit_group",
        "nanosleep", "clock_nanosleep", "epoll_create", "epoll_create1", "eventfd2", "poll",
        "ppoll", "select", "pselect6", "pidfd_open", "execveat",
    }
)  # fmt: skip
# Calls that start a process or thread (their return value is the child's id).
CLONE_CALLS = frozenset({"clone", "clone3", "fork", "vfork"})

IO_IN, IO_OUT = "in", "out"


def io_direction(name: str) -> str | None:
    """"in" for a call that reads payload bytes, "out" for one that writes them, else None."""
    if name in INPUT_CALLS:
        return IO_IN
    if name in OUTPUT_CALLS:
        return IO_OUT
    return None

"""Whether a syscall could have waited: only a call that waited in the kernel for an event is a
blocking syscall. Everything else it took is CPU (the kernel's or, under a tracer on a loaded
machine, the time the thread or the tracer was not running) and counts in its step's time.

Contract: `Waiting()` is fed every syscall item in each thread's order (`observe(item)`) and
keeps which sockets and pipes of each process are non-blocking (SOCK_NONBLOCK at `socket` /
`accept4`, `ioctl(FIONBIO)`, `fcntl(F_SETFL, ...O_NONBLOCK)`; forgotten at `close`).
`could_wait(item)` is False for a call that returned EAGAIN, for the calls in `NEVER_WAIT`
(descriptor flags without a lock wait, addresses, socket set-up), for a few quick ioctls, and
for I/O on a non-blocking socket or pipe (asyncio's transports): such a call never waits,
however long strace saw it take. Regular files are never taken as non-blocking (O_NONBLOCK
does not stop a disk read). Memory: one entry per open non-blocking descriptor.
"""

NEVER_WAITED = frozenset({"EAGAIN", "EWOULDBLOCK"})  # a non-blocking call found nothing to do
# Calls that do their work at once, never sleeping for an event (a lock with F_SETLKW, an ioctl
# on a terminal may: they are not here).
NEVER_WAIT = frozenset(
    ("fcntl", "getsockname", "getpeername", "setsockopt", "getsockopt", "epoll_ctl",
     "epoll_create", "epoll_create1", "socket", "socketpair", "bind", "listen", "dup", "dup2",
     "dup3", "pipe", "pipe2", "eventfd2", "getpid", "gettid", "getppid")
)  # fmt: skip
# I/O that waits only on a blocking descriptor.
DESCRIPTOR_IO = frozenset(
    ("read", "write", "readv", "writev", "recvfrom", "sendto", "recvmsg", "sendmsg", "recvmmsg",
     "sendmmsg", "accept", "accept4", "connect", "close", "shutdown")
)  # fmt: skip
_WAITING_FCNTL = ("F_SETLKW", "F_OFD_SETLKW")
_QUICK_IOCTL = (", FIONBIO", ", FIOCLEX", ", FIONCLEX", ", TCGETS")
_FLAG_CALLS = frozenset(("socket", "accept4", "ioctl", "fcntl", "close"))
_STREAMS = ("TCP", "UDP", "UNIX", "SCTP", "pipe", "socket")


class Waiting:
    def __init__(self) -> None:
        self._nonblocking: set[tuple[int, int]] = set()  # (pid, fd)

    def observe(self, item) -> None:
        call = item.call
        name = call.name
        if name not in _FLAG_CALLS or call.errno is not None:
            return
        pid = item.pid
        if name == "close":
            fd = call.fd()
            if fd is not None:
                self._nonblocking.discard((pid, fd.number))
        elif name in ("socket", "accept4"):
            if "SOCK_NONBLOCK" in call.args and call.retval is not None and call.retval >= 0:
                self._nonblocking.add((pid, call.retval))
        else:
            fd = call.fd()
            if fd is None or not fd.kind.startswith(_STREAMS):
                return
            args = call.args
            if name == "ioctl" and ", FIONBIO, " in args:
                self._set(pid, fd.number, not args.endswith("[0]"))
            elif name == "fcntl" and ", F_SETFL, " in args:
                self._set(pid, fd.number, "O_NONBLOCK" in args)

    def _set(self, pid: int, fd: int, nonblocking: bool) -> None:
        if nonblocking:
            self._nonblocking.add((pid, fd))
        else:
            self._nonblocking.discard((pid, fd))

    def could_wait(self, item) -> bool:
        call = item.call
        if call.errno in NEVER_WAITED:
            return False
        name = call.name
        if name in NEVER_WAIT:
            return name == "fcntl" and any(cmd in call.args for cmd in _WAITING_FCNTL)
        if name == "ioctl":
            return not any(req in call.args for req in _QUICK_IOCTL)
        if name in DESCRIPTOR_IO and self._nonblocking:
            fd = call.fd()
            return fd is None or (item.pid, fd.number) not in self._nonblocking
        return True

"""One function per syscall: its arguments as strace prints them (for parse/ebpf_format.py).

Contract: `FORMATS[name](formatter, tgid, args, ret, data, addr, info, truncated)` returns the
argument text of one call from its raw arguments and the blobs the recorder read (`data`
payload/path/array, `addr` sockaddr, `info` sock_info); fds go through `formatter.fd` (decorated
as `-yy` does) and pipe/socketpair fds are registered through `formatter.set_fd`. `RET_FD`
names the calls whose return value is an fd; `NARGS` how many raw arguments an unknown call
shows. Pure apart from that table.
"""

import struct

from .ebpf_text import (
    AF_NAMES,
    CLOCKS,
    CLONE_BITS,
    EPOLL_BITS,
    EPOLL_CTL,
    FCNTL,
    OPEN_BITS,
    POLL_BITS,
    SHUT,
    SOCK_TYPES,
    flag_names,
    ptr,
    quote,
    signame,
    sock_kind,
    sockaddr,
)

_EPOLL_EVENT = struct.Struct("<IQ")  # packed on x86_64
_POLLFD = struct.Struct("<ihh")
_TIMESPEC = struct.Struct("<qq")
_FDPAIR = struct.Struct("<ii")


def _s(self, data, truncated):
    return quote(bytes(data), truncated)


def _io(self, tgid, a, ret, data, addr, info, truncated):
    shown = data or ret is None or ret >= 0
    return f"{self.fd(tgid, a[0])}, {_s(self, data, truncated) if shown else ptr(a[1])}, {a[2]}"


def _pio(self, tgid, a, ret, data, addr, info, truncated):
    return _io(self, tgid, a, ret, data, addr, info, truncated) + f", {a[3]}"


def _sendto(self, tgid, a, ret, data, addr, info, truncated):
    where = f"{sockaddr(bytes(addr))}, {a[5]}" if addr else f"{ptr(a[4])}, {a[5]}"
    return f"{self.fd(tgid, a[0])}, {_s(self, data, truncated)}, {a[2]}, {a[3]}, {where}"


def _recvfrom(self, tgid, a, ret, data, addr, info, truncated):
    buf = _s(self, data, truncated) if ret is not None and ret >= 0 else ptr(a[1])
    where = f"{sockaddr(bytes(addr))}, [{len(addr)}]" if addr else f"{ptr(a[4])}, {ptr(a[5])}"
    return f"{self.fd(tgid, a[0])}, {buf}, {a[2]}, {a[3]}, {where}"


def _iov(self, data, truncated, cnt, ret_ok=True):
    if not ret_ok:
        return "[]"
    more = ", ..." if cnt > 1 else ""
    return f"[{{iov_base={_s(self, data, truncated)}, iov_len={len(data)}}}{more}]"


def _writev(self, tgid, a, ret, data, addr, info, truncated):
    iov = _iov(self, data, truncated, a[2], ret is None or ret >= 0)
    return f"{self.fd(tgid, a[0])}, {iov}, {a[2]}"


def _msg(self, tgid, a, ret, data, addr, info, truncated):
    name = f"msg_name={sockaddr(bytes(addr))}, msg_namelen={len(addr)}, " if addr else ""
    body = _iov(self, data, truncated, 1, ret is None or ret >= 0)
    return f"{self.fd(tgid, a[0])}, {{{name}msg_iov={body}, msg_iovlen=1}}, {a[2]}"


def _connect(self, tgid, a, ret, data, addr, info, truncated):
    return f"{self.fd(tgid, a[0])}, {sockaddr(bytes(addr)) if addr else ptr(a[1])}, {a[2]}"


def _accept(self, tgid, a, ret, data, addr, info, truncated, flags=True):
    where = f"{sockaddr(bytes(addr))}, [{len(addr)}]" if addr else f"{ptr(a[1])}, {ptr(a[2])}"
    tail = f", {flag_names(a[3], ((0o4000, 'SOCK_NONBLOCK'), (0o2000000, 'SOCK_CLOEXEC')))}"
    return f"{self.fd(tgid, a[0])}, {where}{tail if flags else ''}"


def _accept_old(self, tgid, a, ret, data, addr, info, truncated):
    return _accept(self, tgid, a, ret, data, addr, info, truncated, flags=False)


def _socket(self, tgid, a, ret, data, addr, info, truncated):
    kind = SOCK_TYPES.get(a[1] & 0xF, str(a[1] & 0xF))
    extra = flag_names(a[1] & ~0xF, ((0o4000, "SOCK_NONBLOCK"), (0o2000000, "SOCK_CLOEXEC")), "")
    return f"{AF_NAMES.get(a[0], a[0])}, {kind}{'|' + extra if extra else ''}, {a[2]}"


def _pair(self, tgid, a, ret, data, addr, info, truncated, index):
    if ret == 0 and len(data) >= 8:
        first, second = _FDPAIR.unpack(bytes(data[:8]))
        kind = "pipe:[]" if index == 0 else sock_kind(1, a[1]) + ":[]"
        self.set_fd(tgid, first, kind)
        self.set_fd(tgid, second, kind)
        return f"[{self.fd(tgid, first)}, {self.fd(tgid, second)}]"
    return ptr(a[index])


def _pipe(self, tgid, a, ret, data, addr, info, truncated):
    fds = _pair(self, tgid, a, ret, data, addr, info, truncated, 0)
    return fds


def _pipe2(self, tgid, a, ret, data, addr, info, truncated):
    return (
        f"{_pipe(self, tgid, a, ret, data, addr, info, truncated)}, {flag_names(a[1], OPEN_BITS)}"
    )


def _socketpair(self, tgid, a, ret, data, addr, info, truncated):
    head = _socket(self, tgid, a, ret, data, addr, info, truncated)
    return f"{head}, {_pair(self, tgid, a, ret, data, addr, info, truncated, 3)}"


def _epoll_event(events: int, value: int) -> str:
    names = flag_names(events, EPOLL_BITS)
    return f"{{events={names}, data={{u32={value & 0xFFFFFFFF}, u64={value}}}}}"


def _epoll_array(data, ret, limit=None) -> str:
    if ret is None or ret <= 0:
        return "[]"
    items = []
    for off in range(0, len(data) - 11, 12):
        events, value = _EPOLL_EVENT.unpack_from(data, off)
        items.append(_epoll_event(events, value))
    if ret > len(items):
        items.append("...")
    return "[" + ", ".join(items) + "]"


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _int(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def _timespec(raw) -> str:
    if len(raw) < 16:
        return "NULL"
    sec, nsec = _TIMESPEC.unpack(bytes(raw[:16]))
    return f"{{tv_sec={sec}, tv_nsec={nsec}}}"


def _epoll_wait(self, tgid, a, ret, data, addr, info, truncated):
    return f"{self.fd(tgid, a[0])}, {_epoll_array(data, ret)}, {_int(a[2])}, {_int(a[3])}"


def _epoll_pwait(self, tgid, a, ret, data, addr, info, truncated):
    return _epoll_wait(self, tgid, a, ret, data, addr, info, truncated) + f", {ptr(a[4])}, {a[5]}"


def _epoll_pwait2(self, tgid, a, ret, data, addr, info, truncated):
    timeout = _timespec(addr) if a[3] else "NULL"
    return (
        f"{self.fd(tgid, a[0])}, {_epoll_array(data, ret)}, {_int(a[2])}, {timeout}, "
        f"{ptr(a[4])}, {a[5]}"
    )


def _epoll_ctl(self, tgid, a, ret, data, addr, info, truncated):
    if len(data) >= 12 and a[1] != 2:  # EPOLL_CTL_DEL ignores the event: strace prints the pointer
        events, value = _EPOLL_EVENT.unpack(bytes(data[:12]))
        event = _epoll_event(events, value)
    else:
        event = ptr(a[3])
    op = EPOLL_CTL.get(a[1], str(a[1]))
    return f"{self.fd(tgid, a[0])}, {op}, {self.fd(tgid, a[2])}, {event}"


def _poll_array(data) -> str:
    items = []
    for off in range(0, len(data) - 7, 8):
        fd, events, _revents = _POLLFD.unpack_from(data, off)
        items.append(f"{{fd={fd}, events={flag_names(events & 0xFFFF, POLL_BITS)}}}")
    return "[" + ", ".join(items) + "]"


def _poll(self, tgid, a, ret, data, addr, info, truncated):
    return f"{_poll_array(data)}, {a[1]}, {_int(a[2])}"


def _ppoll(self, tgid, a, ret, data, addr, info, truncated):
    timeout = _timespec(addr) if a[2] else "NULL"
    return f"{_poll_array(data)}, {a[1]}, {timeout}, {ptr(a[3])}, {a[4]}"


def _path(data) -> str:
    return quote(bytes(data))


def _open(self, tgid, a, ret, data, addr, info, truncated):
    return f"{_path(data)}, {_open_flags(a[1])}, 0{a[2]:o}"


def _open_flags(value: int) -> str:
    access = ("O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE")[value & 3]
    rest = flag_names(value & ~3, OPEN_BITS, "")
    return access + ("|" + rest if rest else "")


def _openat(self, tgid, a, ret, data, addr, info, truncated):
    mode = f", 0{a[3]:o}" if a[2] & 0o100 else ""
    return f"{self.fd(tgid, a[0])}, {_path(data)}, {_open_flags(a[2])}{mode}"


def _openat2(self, tgid, a, ret, data, addr, info, truncated):
    return f"{self.fd(tgid, a[0])}, {_path(data)}, {ptr(a[2])}, {a[3]}"


def _fd_only(self, tgid, a, ret, data, addr, info, truncated):
    return self.fd(tgid, a[0])


def _fd_int(self, tgid, a, ret, data, addr, info, truncated):
    return f"{self.fd(tgid, a[0])}, {_int(a[1])}"


def _shutdown(self, tgid, a, ret, data, addr, info, truncated):
    return f"{self.fd(tgid, a[0])}, {SHUT.get(a[1], a[1])}"


def _sockname(self, tgid, a, ret, data, addr, info, truncated):
    return f"{self.fd(tgid, a[0])}, {ptr(a[1])}, {ptr(a[2])}"


def _sockopt(self, tgid, a, ret, data, addr, info, truncated):
    size = _int(a[4]) if a[4] < 1 << 32 else ptr(a[4])
    return f"{self.fd(tgid, a[0])}, {a[1]}, {a[2]}, {ptr(a[3])}, {size}"


def _fcntl(self, tgid, a, ret, data, addr, info, truncated):
    return (
        f"{self.fd(tgid, a[0])}, {FCNTL.get(a[1], a[1])}, {_int(a[2])}"
        if a[1] in (0, 2, 4, 1030)
        else f"{self.fd(tgid, a[0])}, {FCNTL.get(a[1], a[1])}"
    )


def _ioctl(self, tgid, a, ret, data, addr, info, truncated):
    return f"{self.fd(tgid, a[0])}, {hex(a[1])}, {ptr(a[2])}"


def _dup2(self, tgid, a, ret, data, addr, info, truncated):
    return f"{self.fd(tgid, a[0])}, {_int(a[1])}" + (
        f", {flag_names(a[2], OPEN_BITS)}" if len(a) > 2 and a[2] else ""
    )


def _sendfile(self, tgid, a, ret, data, addr, info, truncated):
    return f"{self.fd(tgid, a[0])}, {self.fd(tgid, a[1])}, {ptr(a[2])}, {a[3]}"


def _nanosleep(self, tgid, a, ret, data, addr, info, truncated):
    return f"{_timespec(data)}, {ptr(a[1])}"


def _clock_nanosleep(self, tgid, a, ret, data, addr, info, truncated):
    flags = "TIMER_ABSTIME" if a[1] & 1 else "0"
    return f"{CLOCKS.get(a[0], a[0])}, {flags}, {_timespec(data)}, {ptr(a[3])}"


def _clone(self, tgid, a, ret, data, addr, info, truncated):
    flags = a[0]
    exit_signal = flags & 0xFF
    names = flag_names(flags & ~0xFF, CLONE_BITS, "")
    if exit_signal:
        names = (names + "|" if names else "") + signame(exit_signal)
    return (
        f"child_stack={ptr(a[1])}, flags={names or '0'}, parent_tid={ptr(a[2])}, "
        f"child_tidptr={ptr(a[3])}, tls={ptr(a[4])}"
    )


def _clone3(self, tgid, a, ret, data, addr, info, truncated):
    if len(data) >= 40:
        flags, _pidfd, _ctid, _ptid, exit_signal = struct.unpack_from("<QQQQQ", bytes(data))
        sig = f", exit_signal={signame(exit_signal) if exit_signal else 0}"
        return f"{{flags={flag_names(flags, CLONE_BITS)}{sig}}}, {a[1]}"
    return f"{ptr(a[0])}, {a[1]}"


def _none(self, tgid, a, ret, data, addr, info, truncated):
    return ""


def _execve(self, tgid, a, ret, data, addr, info, truncated):
    return f"{_path(data)}, {ptr(a[1])}, {ptr(a[2])}"


def _execveat(self, tgid, a, ret, data, addr, info, truncated):
    return f"{self.fd(tgid, a[0])}, {_path(data)}, {ptr(a[2])}, {ptr(a[3])}, {a[4]}"


def _wait4(self, tgid, a, ret, data, addr, info, truncated):
    return f"{_int(a[0])}, {ptr(a[1])}, {a[2]}, {ptr(a[3])}"


def _kill(self, tgid, a, ret, data, addr, info, truncated):
    return f"{_int(a[0])}, {signame(a[1])}"


def _tgkill(self, tgid, a, ret, data, addr, info, truncated):
    return f"{_int(a[0])}, {_int(a[1])}, {signame(a[2])}"


def _exit(self, tgid, a, ret, data, addr, info, truncated):
    return str(_int(a[0]))


def _eventfd2(self, tgid, a, ret, data, addr, info, truncated):
    return f"{a[0]}, {flag_names(a[1], ((0o4000, 'EFD_NONBLOCK'), (0o2000000, 'EFD_CLOEXEC')))}"


def _epoll_create1(self, tgid, a, ret, data, addr, info, truncated):
    return flag_names(a[0], ((0o2000000, "EPOLL_CLOEXEC"),))


def _pidfd_open(self, tgid, a, ret, data, addr, info, truncated):
    return f"{_int(a[0])}, {a[1]}"


FORMATS = {
    "read": _io,
    "write": _io,
    "pread64": _pio,
    "pwrite64": _pio,
    "sendto": _sendto,
    "recvfrom": _recvfrom,
    "readv": _writev,
    "writev": _writev,
    "preadv": _writev,
    "pwritev": _writev,
    "sendmsg": _msg,
    "recvmsg": _msg,
    "connect": _connect,
    "bind": _connect,
    "accept4": _accept,
    "accept": _accept_old,
    "socket": _socket,
    "socketpair": _socketpair,
    "pipe": _pipe,
    "pipe2": _pipe2,
    "epoll_wait": _epoll_wait,
    "epoll_pwait": _epoll_pwait,
    "epoll_pwait2": _epoll_pwait2,
    "epoll_ctl": _epoll_ctl,
    "poll": _poll,
    "ppoll": _ppoll,
    "open": _open,
    "openat": _openat,
    "openat2": _openat2,
    "close": _fd_only,
    "dup": _fd_only,
    "fsync": _fd_only,
    "fdatasync": _fd_only,
    "listen": _fd_int,
    "shutdown": _shutdown,
    "getsockname": _sockname,
    "getpeername": _sockname,
    "getsockopt": _sockopt,
    "setsockopt": _sockopt,
    "fcntl": _fcntl,
    "ioctl": _ioctl,
    "dup2": _dup2,
    "dup3": _dup2,
    "sendfile": _sendfile,
    "nanosleep": _nanosleep,
    "clock_nanosleep": _clock_nanosleep,
    "clone": _clone,
    "clone3": _clone3,
    "fork": _none,
    "vfork": _none,
    "execve": _execve,
    "execveat": _execveat,
    "wait4": _wait4,
    "kill": _kill,
    "tgkill": _tgkill,
    "exit": _exit,
    "exit_group": _exit,
    "eventfd2": _eventfd2,
    "epoll_create1": _epoll_create1,
    "epoll_create": _fd_int,
    "pidfd_open": _pidfd_open,
}
NARGS = {"getpid": 0, "gettid": 0, "sched_yield": 0}
RET_FD = frozenset(
    {
        "socket",
        "accept",
        "accept4",
        "open",
        "openat",
        "openat2",
        "dup",
        "dup2",
        "dup3",
        "epoll_create",
        "epoll_create1",
        "eventfd2",
        "pidfd_open",
    }
)

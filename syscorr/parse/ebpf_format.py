"""strace-compatible text for the binary records of the eBPF backend.

Contract: `Formatter.call(name, tgid, args, ret, blobs, flags)` returns `(args_text, ret_text)`
as strace 6 prints them with `-yy -s N` (the shapes syscorr/parse/{args,fds,waits}.py read):
fds decorated `7<TCP:[127.0.0.1:5000->127.0.0.1:40000]>`, strings C-escaped and cut with
`"..."...`, socket addresses `{sa_family=AF_INET, sin_port=htons(80), sin_addr=inet_addr(...)}`,
epoll arrays `[{events=EPOLLIN, data={u32=7, u64=7}}]`, clone flags by name. Fd decorations come
from the kernel's answers kept per process (thread group): the /proc scan at start
(`fd_info`), then socket/accept/connect/bind/listen results (the socket's own addresses, read
from the kernel), open paths, pipe/socketpair/eventfd/epoll results, dup and close; a fork
copies its parent's table. Pointers the recorder does not read are printed in hex, as strace
prints them. Pure: no I/O.
"""

import errno as errno_mod
import ipaddress
import os
import re
import signal
import struct

SOCK_INFO = struct.Struct("<HHHHHHI16s16sQ")
_U32 = struct.Struct("<I")
_EPOLL_EVENT = struct.Struct("<IQ")  # packed on x86_64
_POLLFD = struct.Struct("<ihh")
_TIMESPEC = struct.Struct("<qq")
_FDPAIR = struct.Struct("<ii")

AF_NAMES = {
    0: "AF_UNSPEC",
    1: "AF_UNIX",
    2: "AF_INET",
    10: "AF_INET6",
    16: "AF_NETLINK",
    17: "AF_PACKET",
}
SOCK_TYPES = {1: "SOCK_STREAM", 2: "SOCK_DGRAM", 3: "SOCK_RAW", 5: "SOCK_SEQPACKET"}
EPOLL_BITS = (
    (0x001, "EPOLLIN"),
    (0x002, "EPOLLPRI"),
    (0x004, "EPOLLOUT"),
    (0x008, "EPOLLERR"),
    (0x010, "EPOLLHUP"),
    (0x020, "EPOLLNVAL"),
    (0x040, "EPOLLRDNORM"),
    (0x080, "EPOLLRDBAND"),
    (0x100, "EPOLLWRNORM"),
    (0x200, "EPOLLWRBAND"),
    (0x400, "EPOLLMSG"),
    (0x2000, "EPOLLRDHUP"),
    (1 << 28, "EPOLLEXCLUSIVE"),
    (1 << 29, "EPOLLWAKEUP"),
    (1 << 30, "EPOLLONESHOT"),
    (1 << 31, "EPOLLET"),
)
POLL_BITS = (
    (0x1, "POLLIN"),
    (0x2, "POLLPRI"),
    (0x4, "POLLOUT"),
    (0x8, "POLLERR"),
    (0x10, "POLLHUP"),
    (0x20, "POLLNVAL"),
    (0x40, "POLLRDNORM"),
    (0x2000, "POLLRDHUP"),
)
CLONE_BITS = (
    (0x100, "CLONE_VM"),
    (0x200, "CLONE_FS"),
    (0x400, "CLONE_FILES"),
    (0x800, "CLONE_SIGHAND"),
    (0x1000, "CLONE_PIDFD"),
    (0x2000, "CLONE_PTRACE"),
    (0x4000, "CLONE_VFORK"),
    (0x8000, "CLONE_PARENT"),
    (0x10000, "CLONE_THREAD"),
    (0x20000, "CLONE_NEWNS"),
    (0x40000, "CLONE_SYSVSEM"),
    (0x80000, "CLONE_SETTLS"),
    (0x100000, "CLONE_PARENT_SETTID"),
    (0x200000, "CLONE_CHILD_CLEARTID"),
    (0x1000000, "CLONE_CHILD_SETTID"),
    (0x2000000, "CLONE_NEWCGROUP"),
    (0x4000000, "CLONE_NEWUTS"),
    (0x8000000, "CLONE_NEWIPC"),
    (0x10000000, "CLONE_NEWUSER"),
    (0x20000000, "CLONE_NEWPID"),
    (0x40000000, "CLONE_NEWNET"),
    (0x80000000, "CLONE_IO"),
)
OPEN_BITS = (
    (0o100, "O_CREAT"),
    (0o200, "O_EXCL"),
    (0o400, "O_NOCTTY"),
    (0o1000, "O_TRUNC"),
    (0o2000, "O_APPEND"),
    (0o4000, "O_NONBLOCK"),
    (0o200000, "O_DIRECTORY"),
    (0o400000, "O_NOFOLLOW"),
    (0o2000000, "O_CLOEXEC"),
)
EPOLL_CTL = {1: "EPOLL_CTL_ADD", 2: "EPOLL_CTL_DEL", 3: "EPOLL_CTL_MOD"}
FCNTL = {
    0: "F_DUPFD",
    1: "F_GETFD",
    2: "F_SETFD",
    3: "F_GETFL",
    4: "F_SETFL",
    1030: "F_DUPFD_CLOEXEC",
}
SHUT = {0: "SHUT_RD", 1: "SHUT_WR", 2: "SHUT_RDWR"}
CLOCKS = {0: "CLOCK_REALTIME", 1: "CLOCK_MONOTONIC", 7: "CLOCK_BOOTTIME"}
AT_FDCWD = -100
# Kernel-internal restart codes strace prints as `= ? ERESTARTSYS (...)`.
RESTART = {
    512: ("ERESTARTSYS", "To be restarted if SA_RESTART is set"),
    513: ("ERESTARTNOINTR", "To be restarted"),
    514: ("ERESTARTNOHAND", "To be restarted if no handler"),
    516: ("ERESTART_RESTARTBLOCK", "Interrupted by signal"),
}

# How strace shows each byte inside a quoted string: printable ASCII as itself, the usual C
# escapes, anything else as a three-digit octal escape (never ambiguous before a digit).
_ESCAPES = {ord("\t"): "\\t", ord("\n"): "\\n", ord("\v"): "\\v", ord("\f"): "\\f",
            ord("\r"): "\\r", ord('"'): '\\"', ord("\\"): "\\\\"}  # fmt: skip
_QUOTE_TABLE = {b: _ESCAPES.get(b) or f"\\{b:03o}" for b in range(256) if not 0x20 <= b < 0x7F}
_QUOTE_TABLE.update({b: text for b, text in _ESCAPES.items()})


def quote(data: bytes, truncated: bool = False) -> str:
    """A buffer as strace prints it: `"a\\nb"`, `"abc"...` when cut at -s."""
    body = data.decode("latin-1").translate(_QUOTE_TABLE)
    return f'"{body}"...' if truncated else f'"{body}"'


_FLAG_CACHE: dict[tuple, str] = {}


def flag_names(value: int, bits, zero: str = "0") -> str:
    key = (value, bits, zero)
    text = _FLAG_CACHE.get(key)
    if text is None:
        names = [name for bit, name in bits if value & bit]
        rest = value & ~sum(bit for bit, _ in bits)
        if rest:
            names.append(hex(rest))
        text = "|".join(names) or zero
        if len(_FLAG_CACHE) < 4096:
            _FLAG_CACHE[key] = text
    return text


def ptr(value: int) -> str:
    return "NULL" if value == 0 else hex(value)


def signame(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def _host(family: int, raw: bytes) -> str:
    if family == 2:
        return str(ipaddress.IPv4Address(raw[:4]))
    return str(ipaddress.IPv6Address(raw[:16]))


def sockaddr(raw: bytes) -> str:
    """A struct sockaddr as strace prints it."""
    if len(raw) < 2:
        return "{}"
    family = int.from_bytes(raw[:2], "little")
    if family == 2 and len(raw) >= 8:
        port = int.from_bytes(raw[2:4], "big")
        host = _host(2, raw[4:8])
        return f'{{sa_family=AF_INET, sin_port=htons({port}), sin_addr=inet_addr("{host}")}}'
    if family == 10 and len(raw) >= 24:
        port = int.from_bytes(raw[2:4], "big")
        scope = int.from_bytes(raw[24:28], "little") if len(raw) >= 28 else 0
        return (
            f"{{sa_family=AF_INET6, sin6_port=htons({port}), sin6_flowinfo=htonl(0), "
            f'inet_pton(AF_INET6, "{_host(10, raw[8:24])}", &sin6_addr), '
            f"sin6_scope_id={scope}}}"
        )
    if family == 1:
        path = raw[2:].split(b"\0", 1)[0] if raw[2:3] != b"\0" else raw[3:].rstrip(b"\0")
        shown = quote(path)
        at = "@" if raw[2:3] == b"\0" and len(raw) > 3 else ""
        return f"{{sa_family=AF_UNIX, sun_path={at}{shown}}}"
    return f"{{sa_family={AF_NAMES.get(family, family)}}}"


def sock_kind(family: int, type_: int) -> str:
    base = type_ & 0xF
    if family in (2, 10):
        kind = "TCP" if base == 1 else "UDP" if base == 2 else "RAW"
        return kind + ("v6" if family == 10 else "")
    if family == 1:
        return {1: "UNIX-STREAM", 2: "UNIX-DGRAM", 5: "UNIX-SEQPACKET"}.get(base, "UNIX")
    return AF_NAMES.get(family, f"socket-{family}")


def _endpoint(family: int, raw: bytes, port: int) -> str:
    host = _host(family, raw)
    return f"[{host}]:{port}" if family == 10 else f"{host}:{port}"


def sock_decoration(info: bytes, unix_path: str | None = None) -> str:
    """`TCP:[127.0.0.1:5000->127.0.0.1:40000]` from a struct sock_info."""
    family, type_, _proto, _state, lport, rport, _pad, laddr, raddr, inode = SOCK_INFO.unpack(
        info[: SOCK_INFO.size]
    )
    kind = sock_kind(family, type_)
    if family in (2, 10):
        if lport == 0 and rport == 0:
            return f"{kind}:[{inode}]"
        local = _endpoint(family, laddr, lport)
        if rport == 0:
            return f"{kind}:[{local}]"
        return f"{kind}:[{local}->{_endpoint(family, raddr, rport)}]"
    if unix_path:
        return f"{kind}:[{inode},{quote(os.fsencode(unix_path))}]"
    return f"{kind}:[{inode}]"


def link_decoration(link: str) -> str:
    """The fd decoration for a /proc/PID/fd link target (sockets come with sock_info)."""
    if link.startswith("/"):
        return _escape_path(link)
    return link  # pipe:[123], anon_inode:[eventpoll], socket:[123]


def _escape_path(path: str) -> str:
    raw = os.fsencode(path)
    if re.search(rb"[^\x21-\x7e]|[<>\\]", raw) is None:
        return path
    return "".join(chr(b) if 0x21 <= b <= 0x7E and b not in b"<>\\" else f"\\{b:03o}" for b in raw)


class Formatter:
    """Per-trace state for formatting: each process's fd decorations."""

    def __init__(self, string_limit: int = 256) -> None:
        self.string_limit = string_limit
        self.fds: dict[int, dict[int, str]] = {}  # tgid -> fd -> decoration

    # ---- fds ----

    def fd_info(self, tgid: int, fd: int, link: str, info: bytes) -> None:
        self.fds.setdefault(tgid, {})[fd] = sock_decoration(info) if info else link_decoration(link)

    def fork(self, parent: int, child: int) -> None:
        self.fds[child] = dict(self.fds.get(parent, {}))

    def fd(self, tgid: int, number: int) -> str:
        if number == AT_FDCWD - (1 << 64) or number == AT_FDCWD:
            return "AT_FDCWD"
        if number >= 1 << 63:
            number -= 1 << 64
        decoration = self.fds.get(tgid, {}).get(number)
        return f"{number}<{decoration}>" if decoration is not None else str(number)

    def _set(self, tgid: int, fd: int, decoration: str) -> None:
        self.fds.setdefault(tgid, {})[fd] = decoration

    def _improve(self, tgid: int, fd: int, info: bytes) -> None:
        if info:
            old = self.fds.get(tgid, {}).get(fd, "")
            path = re.search(r',"([^"]*)"\]$', old)
            self._set(tgid, fd, sock_decoration(info, path.group(1) if path else None))

    # ---- one call ----

    def call(self, name: str, tgid: int, a: tuple, ret: int | None, blobs, flags: int):
        """(args text, ret text) for one syscall record; `ret` None when unfinished."""
        data, addr, info = blobs
        truncated = bool(flags & 2)
        fmt = _FORMATS.get(name)
        ok = ret is not None and ret >= 0
        if fmt is None:
            text = ", ".join(hex(x) if x > 0xFFFF else str(x) for x in a[: _NARGS.get(name, 6)])
        else:
            text = fmt(self, tgid, a, ret, data, addr, info, truncated)
        ret_text = "?" if ret is None else ("-1" if ret < 0 else str(ret))
        if ok or (ret == -115 and name == "connect"):  # EINPROGRESS: addresses are set
            effect = _EFFECTS.get(name)
            if effect is not None:
                effect(self, tgid, a, ret, data, addr, info)
            if ok and name in _RET_FD:
                ret_text = self.fd(tgid, ret)
        return text, ret_text


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
        self._set(tgid, first, kind)
        self._set(tgid, second, kind)
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


_FORMATS = {
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
_NARGS = {"getpid": 0, "gettid": 0, "sched_yield": 0}
_RET_FD = frozenset(
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


def _effect_open(self, tgid, a, ret, data, addr, info):
    self._set(tgid, ret, _escape_path(os.fsdecode(bytes(data))))


def _effect_sock(self, tgid, a, ret, data, addr, info):
    self._improve(tgid, ret, info)


def _effect_bound(self, tgid, a, ret, data, addr, info):
    fd = a[0]
    if addr and int.from_bytes(bytes(addr[:2]), "little") == 1 and info:
        path = bytes(addr[2:]).split(b"\0", 1)[0]
        self._set(tgid, fd, sock_decoration(info, os.fsdecode(path)))
    elif info:
        self._improve(tgid, fd, info)


def _effect_accept(self, tgid, a, ret, data, addr, info):
    listening = self.fds.get(tgid, {}).get(a[0], "")
    path = re.search(r',"([^"]*)"\]$', listening)
    if info:
        self._set(tgid, ret, sock_decoration(info, path.group(1) if path else None))


def _effect_close(self, tgid, a, ret, data, addr, info):
    self.fds.get(tgid, {}).pop(a[0], None)


def _effect_dup(self, tgid, a, ret, data, addr, info):
    source = self.fds.get(tgid, {}).get(a[0])
    if source is not None:
        self._set(tgid, ret, source)
    else:
        self.fds.get(tgid, {}).pop(ret, None)


def _effect_fcntl(self, tgid, a, ret, data, addr, info):
    if a[1] in (0, 1030):
        _effect_dup(self, tgid, a, ret, data, addr, info)


def _effect_anon(name):
    def effect(self, tgid, a, ret, data, addr, info):
        self._set(tgid, ret, f"anon_inode:[{name}]")

    return effect


def _effect_fork(self, tgid, a, ret, data, addr, info):
    flags = a[0]
    if ret > 0 and not flags & 0x10000:  # CLONE_THREAD threads share the table already
        self.fork(tgid, ret)


def _effect_clone3(self, tgid, a, ret, data, addr, info):
    flags = struct.unpack_from("<Q", bytes(data))[0] if len(data) >= 8 else 0
    if ret > 0 and not flags & 0x10000:
        self.fork(tgid, ret)


def _effect_plain_fork(self, tgid, a, ret, data, addr, info):
    if ret > 0:
        self.fork(tgid, ret)


_EFFECTS = {
    "open": _effect_open,
    "openat": _effect_open,
    "openat2": _effect_open,
    "socket": _effect_sock,
    "accept": _effect_accept,
    "accept4": _effect_accept,
    "connect": _effect_bound,
    "bind": _effect_bound,
    "listen": _effect_bound,
    "getsockname": _effect_bound,
    "getpeername": _effect_bound,
    "close": _effect_close,
    "dup": _effect_dup,
    "dup2": _effect_dup,
    "dup3": _effect_dup,
    "fcntl": _effect_fcntl,
    "eventfd2": _effect_anon("eventfd"),
    "epoll_create": _effect_anon("eventpoll"),
    "epoll_create1": _effect_anon("eventpoll"),
    "pidfd_open": _effect_anon("[pidfd]"),
    "clone": _effect_fork,
    "clone3": _effect_clone3,
    "fork": _effect_plain_fork,
    "vfork": _effect_plain_fork,
}


def errno_of(ret: int) -> tuple[str | None, str | None, bool]:
    """(errno name, text, restart) for a negative kernel return value."""
    code = -ret
    if code in RESTART:
        name, text = RESTART[code]
        return name, text, True
    name = errno_mod.errorcode.get(code, f"E{code}")
    return name, os.strerror(code), False

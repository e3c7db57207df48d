"""Text pieces of strace's output for the eBPF parser: strings, flags, addresses, fd labels.

Contract: pure functions over bytes and integers from the binary records, producing exactly the
text strace 6 prints (`quote` C-escapes and marks `-s` truncation; `flag_names` names bits;
`sockaddr` a struct sockaddr; `sock_decoration` the `-yy` fd label of a socket from the kernel's
`struct sock_info`; `errno_of` an errno's name and text, kernel restart codes included).
"""

import errno as errno_mod
import ipaddress
import os
import re
import signal
import struct

SOCK_INFO = struct.Struct("<HHHHHHI16s16sQ")

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
        return escape_path(link)
    return link  # pipe:[123], anon_inode:[eventpoll], socket:[123]


def escape_path(path: str) -> str:
    raw = os.fsencode(path)
    if re.search(rb"[^\x21-\x7e]|[<>\\]", raw) is None:
        return path
    return "".join(chr(b) if 0x21 <= b <= 0x7E and b not in b"<>\\" else f"\\{b:03o}" for b in raw)


def errno_of(ret: int) -> tuple[str | None, str | None, bool]:
    """(errno name, text, restart) for a negative kernel return value."""
    code = -ret
    if code in RESTART:
        name, text = RESTART[code]
        return name, text, True
    name = errno_mod.errorcode.get(code, f"E{code}")
    return name, os.strerror(code), False

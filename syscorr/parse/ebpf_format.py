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

import os
import re
import struct

from .ebpf_calls import FORMATS, NARGS, RET_FD
from .ebpf_text import AT_FDCWD, escape_path, link_decoration, sock_decoration


class Formatter:
    """Per-trace state for formatting: each process's fd decorations."""

    def __init__(self, string_limit: int = 256) -> None:
        self.string_limit = string_limit
        self.fds: dict[int, dict[int, str]] = {}  # tgid -> fd -> decoration
        self.recorded_forks: set[int] = set()  # children whose fork record was seen

    # ---- fds ----

    def fd_info(self, tgid: int, fd: int, link: str, info: bytes) -> None:
        self.fds.setdefault(tgid, {})[fd] = sock_decoration(info) if info else link_decoration(link)

    def fork(self, parent: int, child: int, shared: bool = False) -> None:
        if shared:
            self.fds[child] = self.fds.setdefault(parent, {})
        else:
            self.fds[child] = dict(self.fds.get(parent, {}))

    def forked(self, parent: int, child: int, shared: bool) -> None:
        """The recorder's fork record: `child` (a tgid) starts with `parent`'s fds."""
        if child != parent:  # a thread shares its group's table already
            self.fork(parent, child, shared)
            self.recorded_forks.add(child)

    def exited(self, tgid: int) -> None:
        """A process ended: its table goes (its pid may be reused)."""
        self.fds.pop(tgid, None)
        self.recorded_forks.discard(tgid)

    def fd(self, tgid: int, number: int) -> str:
        if number == AT_FDCWD - (1 << 64) or number == AT_FDCWD:
            return "AT_FDCWD"
        if number >= 1 << 63:
            number -= 1 << 64
        decoration = self.fds.get(tgid, {}).get(number)
        return f"{number}<{decoration}>" if decoration is not None else str(number)

    def set_fd(self, tgid: int, fd: int, decoration: str) -> None:
        self.fds.setdefault(tgid, {})[fd] = decoration

    def _improve(self, tgid: int, fd: int, info: bytes) -> None:
        if info:
            old = self.fds.get(tgid, {}).get(fd, "")
            path = re.search(r',"([^"]*)"\]$', old)
            self.set_fd(tgid, fd, sock_decoration(info, path.group(1) if path else None))

    # ---- one call ----

    def call(self, name: str, tgid: int, a: tuple, ret: int | None, blobs, flags: int):
        """(args text, ret text) for one syscall record; `ret` None when unfinished."""
        data, addr, info = blobs
        truncated = bool(flags & 2)
        fmt = FORMATS.get(name)
        ok = ret is not None and ret >= 0
        if fmt is None:
            text = ", ".join(hex(x) if x > 0xFFFF else str(x) for x in a[: NARGS.get(name, 6)])
        else:
            text = fmt(self, tgid, a, ret, data, addr, info, truncated)
        ret_text = "?" if ret is None else ("-1" if ret < 0 else str(ret))
        if ok or (ret == -115 and name == "connect"):  # EINPROGRESS: addresses are set
            effect = _EFFECTS.get(name)
            if effect is not None:
                effect(self, tgid, a, ret, data, addr, info)
            if ok and name in RET_FD:
                ret_text = self.fd(tgid, ret)
        return text, ret_text


def _effect_open(self, tgid, a, ret, data, addr, info):
    self.set_fd(tgid, ret, escape_path(os.fsdecode(bytes(data))))


def _effect_sock(self, tgid, a, ret, data, addr, info):
    self._improve(tgid, ret, info)


def _effect_bound(self, tgid, a, ret, data, addr, info):
    fd = a[0]
    if addr and int.from_bytes(bytes(addr[:2]), "little") == 1 and info:
        path = bytes(addr[2:]).split(b"\0", 1)[0]
        self.set_fd(tgid, fd, sock_decoration(info, os.fsdecode(path)))
    elif info:
        self._improve(tgid, fd, info)


def _effect_accept(self, tgid, a, ret, data, addr, info):
    listening = self.fds.get(tgid, {}).get(a[0], "")
    path = re.search(r',"([^"]*)"\]$', listening)
    if info:
        self.set_fd(tgid, ret, sock_decoration(info, path.group(1) if path else None))


def _effect_close(self, tgid, a, ret, data, addr, info):
    self.fds.get(tgid, {}).pop(a[0], None)


def _effect_dup(self, tgid, a, ret, data, addr, info):
    source = self.fds.get(tgid, {}).get(a[0])
    if source is not None:
        self.set_fd(tgid, ret, source)
    else:
        self.fds.get(tgid, {}).pop(ret, None)


def _effect_fcntl(self, tgid, a, ret, data, addr, info):
    if a[1] in (0, 1030):
        _effect_dup(self, tgid, a, ret, data, addr, info)


def _effect_anon(name):
    def effect(self, tgid, a, ret, data, addr, info):
        self.set_fd(tgid, ret, f"anon_inode:[{name}]")

    return effect


CLONE_FILES, CLONE_THREAD = 0x400, 0x10000


def _child_of(self, tgid, ret, flags):
    """A clone/fork returned in the parent: copy its table, unless the fork record did."""
    if ret > 0 and not flags & CLONE_THREAD and ret not in self.recorded_forks:
        self.fork(tgid, ret, bool(flags & CLONE_FILES))


def _effect_fork(self, tgid, a, ret, data, addr, info):
    _child_of(self, tgid, ret, a[0])


def _effect_clone3(self, tgid, a, ret, data, addr, info):
    flags = struct.unpack_from("<Q", bytes(data))[0] if len(data) >= 8 else 0
    _child_of(self, tgid, ret, flags)


def _effect_plain_fork(self, tgid, a, ret, data, addr, info):
    _child_of(self, tgid, ret, 0)


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

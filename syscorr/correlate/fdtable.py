"""File-descriptor table over time, per process, from the syscalls alone.

Contract: `fd_key = (pid, fd, generation)`: a successful `close` ends a generation and any call
that returns a new fd starts one, so a reused fd number never mixes two sockets. Each open fd
has a kind ("TCP", "TCPv6", "UDP", "UNIX-STREAM", "pipe", "file", "anon_inode", "socket" when
only that is known, "" when nothing is) and a label ("TCP 127.0.0.1:40000->127.0.0.1:5000",
"UNIX-STREAM /run/app.sock", "pipe", a path, "anon_inode:eventpoll", "fd"), kept in `labels`
and improving as the socket is bound or connected. Labels are decoded once per fd, from facts:
- facts a backend reports (the eBPF backend calls these directly): `opened` (a call returned
  fd with a kind and label: a path, a pipe), `socket` (family and type), `bound` and
  `connected` (a local or remote address), `accepted` (a listener returned a connected fd),
  `duplicated`, `closed`, `used`, and `fork_process` (a child inherits the open fds);
- `observe(pid, call)` turns one strace record (in the thread's order) into those facts: the
  results of socket/socketpair/pipe/open/accept, the sockaddr arguments of bind/connect/accept/
  getsockname/getpeername, and strace's own fd decoding where the log has it (`-y` paths and
  socket inodes, `-yy` addresses: imported logs and traces recorded before syscorr ran strace
  with `-y`). It returns `(fd_key, label)` for the fd the call used as its first argument, or
  returned.
The fds the program inherited (meta.json's `inherited_fds`, read from /proc before it started)
seed the first process. `kind(fd_key)` and `label(fd_key)` read the table. Pure: no I/O.
"""

from functools import lru_cache
from typing import NamedTuple

from syscorr.parse.args import split_args
from syscorr.parse.fds import Address, FdInfo, first_sockaddr, parse_address, parse_fd
from syscorr.parse.records import Syscall
from syscorr.parse.vocabulary import NO_FD_ARG, PAIR_CALLS, RETURNS_FD

FdKey = tuple[int, int, int]


class FdEntry(NamedTuple):
    """An open fd: its generation and what is known of it."""

    generation: int
    kind: str
    local: Address | None = None
    remote: Address | None = None
    path: str | None = None  # a file's path, a UNIX socket's path, an anon_inode's name


# socket(2) family and type -> kind, as strace's -yy names them
_INET = {"AF_INET": "", "AF_INET6": "v6"}
_TYPES = {"SOCK_STREAM": "TCP", "SOCK_DGRAM": "UDP"}
_UNIX_TYPES = {"SOCK_STREAM": "UNIX-STREAM", "SOCK_DGRAM": "UNIX-DGRAM",
               "SOCK_SEQPACKET": "UNIX-SEQPACKET"}  # fmt: skip
_ANON = {"epoll_create": "eventpoll", "epoll_create1": "eventpoll", "eventfd": "[eventfd]",
         "eventfd2": "[eventfd]", "timerfd_create": "[timerfd]", "signalfd": "[signalfd]",
         "signalfd4": "[signalfd]", "inotify_init": "inotify", "inotify_init1": "inotify",
         "pidfd_open": "[pidfd]"}  # fmt: skip
_OPENS = frozenset({"open", "openat", "openat2", "creat", "memfd_create"})
_LOCAL_ADDRESS = frozenset({"bind", "getsockname"})
_REMOTE_ADDRESS = frozenset({"connect", "getpeername"})


def socket_kind(family: str, sock_type: str) -> str:
    """The kind of a socket from socket(2)'s family and type ("SOCK_STREAM|SOCK_CLOEXEC")."""
    base = sock_type.split("|")[0].strip()
    if family in ("AF_UNIX", "AF_LOCAL"):
        return _UNIX_TYPES.get(base, "UNIX")
    if family in _INET and base in _TYPES:
        return _TYPES[base] + _INET[family]
    return "socket"


def _addr(address: Address) -> str:
    host = f"[{address.host}]" if ":" in address.host else address.host
    return f"{host}:{address.port}" if address.port is not None else host


def describe(entry: FdEntry) -> str:
    """The label of an fd from what is known of it."""
    kind = entry.kind
    if entry.local is not None or entry.remote is not None:
        local = _addr(entry.local) if entry.local is not None else "?"
        if entry.remote is not None:
            return f"{kind} {local}->{_addr(entry.remote)}"
        return f"{kind} {local}"
    if kind == "file":
        return entry.path or "file"
    if kind == "anon_inode":
        return f"anon_inode:{entry.path or '?'}"
    if kind.startswith("UNIX") and entry.path:
        return f"{kind} {entry.path}"
    return kind or "fd"


@lru_cache(maxsize=4096)  # pure, and asked for every call with the same few fds
def label_of(fdinfo: FdInfo | None) -> tuple[str, str]:
    """(label, kind) from the parser's FdInfo (strace's -y/-yy decoding); ("fd", "") when bare."""
    if fdinfo is None or not fdinfo.kind:
        return "fd", ""
    entry = _from_info(0, fdinfo)
    return describe(entry), entry.kind


def _from_info(generation: int, info: FdInfo) -> FdEntry:
    path = info.name if info.kind == "anon_inode" else info.path
    return FdEntry(generation, info.kind, info.local, info.remote, path)


def _merge(entry: FdEntry, info: FdInfo | None) -> FdEntry:
    """What strace's decoding of an fd adds to what the table knows (never less)."""
    if info is None or not info.kind:
        return entry
    kind = entry.kind
    path = info.name if info.kind == "anon_inode" else info.path
    if (
        info.local is None
        and info.remote is None
        and (info.kind == kind or info.kind == "socket" and kind)
        and (not path or path == entry.path)
    ):
        return entry  # the usual case: nothing new
    if info.kind != "socket" or kind in ("", "fd"):  # -y's "socket" tells less than socket()
        kind = info.kind
    return FdEntry(
        entry.generation,
        kind,
        info.local if info.local is not None else entry.local,
        info.remote if info.remote is not None else entry.remote,
        path if path else entry.path,
    )


def _sockaddr_address(call: Syscall) -> tuple[Address | None, str | None]:
    """The address in a call's sockaddr argument: (inet address, UNIX path)."""
    sockaddr = first_sockaddr(call.arg_list())
    if sockaddr is None:
        return None, None
    if sockaddr.family == "AF_UNIX":
        return None, sockaddr.path or None
    if sockaddr.host is None:
        return None, None
    return Address(sockaddr.host, sockaddr.port), None


class FdTable:
    def __init__(self, inherited: dict | None = None) -> None:
        """`inherited`: the fds the program started with (meta.json's `inherited_fds`, read
        from /proc by the runner: `{fd: {"kind", "path", "local", "remote"}}`); the first
        process `observe` sees starts with them."""
        self._open: dict[tuple[int, int], FdEntry] = {}
        self._next_gen: dict[tuple[int, int], int] = {}
        self.labels: dict[FdKey, tuple[str, str]] = {}  # fd_key -> (label, kind)
        self._inherited = _inherited_entries(inherited or {})
        self._seeded = not self._inherited

    def inherit(self, pid: int) -> None:
        """Start `pid` with the inherited fds (done for the first process `observe` sees)."""
        self._seeded = True
        for fd, entry in self._inherited.items():
            if (pid, fd) not in self._open:
                self._start(pid, entry, fd)

    # ---- reading ----

    def kind(self, key: FdKey | None) -> str:
        return self.labels[key][1] if key in self.labels else ""

    def label(self, key: FdKey | None) -> str | None:
        return self.labels[key][0] if key in self.labels else None

    # ---- facts ----

    def opened(self, pid: int, fd: int, kind: str = "", path: str | None = None) -> FdKey:
        """A call returned `fd`, a new one (open, pipe, epoll_create, socket...)."""
        return self._start(pid, FdEntry(0, kind, path=path), fd)

    def socket(self, pid: int, fd: int, family: str, sock_type: str) -> FdKey:
        return self.opened(pid, fd, socket_kind(family, sock_type))

    def bound(
        self, pid: int, fd: int, address: Address | None = None, path: str | None = None
    ) -> FdKey:
        """`fd`'s local address became known (bind, getsockname)."""
        return self._update(pid, fd, local=address, path=path)

    def connected(
        self, pid: int, fd: int, address: Address | None = None, path: str | None = None
    ) -> FdKey:
        """`fd`'s remote address became known (connect, getpeername)."""
        return self._update(pid, fd, remote=address, path=path)

    def accepted(self, pid: int, listener: int, fd: int, remote: Address | None) -> FdKey:
        """`listener` returned the connected `fd`: its kind and local address, this peer."""
        parent = self._open.get((pid, listener))
        kind = parent.kind if parent is not None else "socket"
        local = parent.local if parent is not None else None
        path = parent.path if parent is not None and kind.startswith("UNIX") else None
        return self._start(pid, FdEntry(0, kind, local, remote, path), fd)

    def duplicated(self, pid: int, old: int, new: int) -> FdKey:
        source = self._open.get((pid, old)) or FdEntry(0, "")
        return self._start(pid, source, new)

    def closed(self, pid: int, fd: int) -> FdKey:
        key = self.used(pid, fd)
        self._open.pop((pid, fd), None)
        return key

    def used(self, pid: int, fd: int) -> FdKey:
        entry = self._open.get((pid, fd))
        if entry is None:
            return self._start(pid, FdEntry(0, ""), fd)
        return (pid, fd, entry.generation)

    def fork_process(self, parent: int, child: int) -> None:
        for (pid, fd), entry in list(self._open.items()):
            if pid == parent:
                self._start(child, entry, fd)

    def _start(self, pid: int, entry: FdEntry, fd: int) -> FdKey:
        slot = (pid, fd)
        gen = self._next_gen.get(slot, 0) + 1
        self._next_gen[slot] = gen
        entry = entry._replace(generation=gen)
        self._open[slot] = entry
        key = (pid, fd, gen)
        self.labels[key] = (describe(entry), entry.kind)
        return key

    def _set(self, pid: int, fd: int, entry: FdEntry) -> FdKey:
        key = (pid, fd, entry.generation)
        if self._open.get((pid, fd)) != entry:
            self._open[(pid, fd)] = entry
            self.labels[key] = (describe(entry), entry.kind)
        return key

    def _update(self, pid: int, fd: int, **known) -> FdKey:
        key = self.used(pid, fd)
        entry = self._open[(pid, fd)]
        changes = {name: value for name, value in known.items() if value is not None}
        return self._set(pid, fd, entry._replace(**changes)) if changes else key

    # ---- strace records ----

    def observe(self, pid: int, call: Syscall) -> tuple[FdKey | None, str | None]:
        if not self._seeded:
            self.inherit(pid)
        name = call.name
        retval = call.retval
        failed = call.errno is not None or retval is None
        if name in RETURNS_FD and not failed and retval >= 0:
            key = self._returned(pid, call, name, retval)
            return key, self.labels[key][0]
        if name in PAIR_CALLS:
            if not failed:
                self._pair(pid, call, name)
            return None, None
        if name in NO_FD_ARG:
            return None, None
        info = call.fd()
        fd = info.number if info is not None else None
        if fd is None or fd < 0:
            return None, None
        key = self.used(pid, fd)
        entry = _merge(self._open[(pid, fd)], info)
        if name in _LOCAL_ADDRESS or name in _REMOTE_ADDRESS:
            if not failed or call.errno == "EINPROGRESS":
                address, path = _sockaddr_address(call)
                side = "local" if name in _LOCAL_ADDRESS else "remote"
                if address is not None:
                    entry = entry._replace(**{side: address})
                if path is not None and not entry.path:
                    entry = entry._replace(path=path)
        key = self._set(pid, fd, entry)
        label = self.labels[key][0]
        if name == "close" and not failed:
            self._open.pop((pid, fd), None)
        return key, label

    def _returned(self, pid: int, call: Syscall, name: str, fd: int) -> FdKey:
        info = call.ret_fd()
        if name == "socket":
            args = split_args(call.args)
            entry = FdEntry(0, socket_kind(*args[:2]) if len(args) >= 2 else "socket")
        elif name in ("accept", "accept4"):
            listener = call.fd()
            remote, _path = _sockaddr_address(call)
            self.accepted(pid, listener.number if listener else -1, fd, remote)
            return self._set(pid, fd, _merge(self._open[(pid, fd)], info))
        elif name.startswith("dup"):
            source = call.fd()
            self.duplicated(pid, source.number if source else -1, fd)
            return self._set(pid, fd, _merge(self._open[(pid, fd)], info))
        elif name in _ANON:
            entry = FdEntry(0, "anon_inode", path=_ANON[name])
        elif name in _OPENS:
            entry = FdEntry(0, "file", path=_opened_path(call))
        else:
            entry = FdEntry(0, "")
        return self._start(pid, _merge(entry, info), fd)

    def _pair(self, pid: int, call: Syscall, name: str) -> None:
        """pipe/pipe2/socketpair: both fds, printed in an array argument."""
        args = split_args(call.args)
        if name == "socketpair":
            kind = socket_kind(*args[:2]) if len(args) >= 2 else "socket"
        else:
            kind = "pipe"
        for arg in args:
            if arg.startswith("["):
                for part in arg.strip("[]").split(", "):
                    info = parse_fd(part)
                    if info is not None:
                        self._start(pid, _merge(FdEntry(0, kind), info), info.number)
                return


def _inherited_entries(described: dict) -> dict[int, FdEntry]:
    entries = {}
    for fd, facts in described.items():
        try:
            number = int(fd)
        except (TypeError, ValueError):
            continue
        if not isinstance(facts, dict) or not isinstance(facts.get("kind"), str):
            continue
        local, remote = (
            parse_address(facts[k]) if isinstance(facts.get(k), str) else None
            for k in ("local", "remote")
        )
        path = facts.get("path") if isinstance(facts.get("path"), str) else None
        entries[number] = FdEntry(0, facts["kind"], local, remote, path)
    return entries


def _opened_path(call: Syscall) -> str | None:
    """The path an open call names (used when strace did not decode the returned fd)."""
    data = call.data()
    if data is None:
        return None
    try:
        return data.data.decode("utf-8", "surrogateescape")
    except (AttributeError, UnicodeDecodeError):
        return None

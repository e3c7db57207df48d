"""File-descriptor table over time, per process, from the syscalls alone.

Contract: `FdTable.observe(pid, call)` updates the table with one syscall (in the thread's
order) and returns `(fd_key, label)` for the fd the call used as its first argument (or that it
returned), where `fd_key = (pid, fd, generation)`. A successful `close` ends a generation, and
any call that returns a new fd starts one, so a reused fd number never mixes two sockets.
Labels come from strace's `-yy` decoding ("TCP 127.0.0.1:40000->127.0.0.1:5000", "UNIX-STREAM",
"pipe", a path, "epoll") and improve as the socket is bound or connected. `fork_process`
copies a parent's table into a child (fds are inherited across fork).
"""

from functools import lru_cache
from typing import NamedTuple

from syscorr.parse.records import Syscall
from syscorr.parse.vocabulary import NO_FD_ARG, PAIR_CALLS, RETURNS_FD


class FdEntry(NamedTuple):
    generation: int
    label: str
    kind: str  # FdInfo.kind: "TCP", "UNIX-STREAM", "pipe", "file", "anon_inode", ...


def _addr(address) -> str:
    host = f"[{address.host}]" if ":" in address.host else address.host
    return f"{host}:{address.port}" if address.port is not None else host


@lru_cache(maxsize=4096)  # pure, and asked for every call with the same few fds
def label_of(fdinfo) -> tuple[str, str]:
    """(label, kind) from the parser's FdInfo (strace's -yy decoding); ("fd", "") when bare."""
    if fdinfo is None or not fdinfo.kind:
        return "fd", ""
    kind = fdinfo.kind
    if fdinfo.local is not None and fdinfo.remote is not None:
        return f"{kind} {_addr(fdinfo.local)}->{_addr(fdinfo.remote)}", kind
    if fdinfo.local is not None:
        return f"{kind} {_addr(fdinfo.local)}", kind
    if kind == "file":
        return fdinfo.path or "file", kind
    if kind == "anon_inode":
        return f"anon_inode:{fdinfo.name or '?'}", kind
    if kind.startswith("UNIX") and fdinfo.path:
        return f"{kind} {fdinfo.path}", kind
    return kind, kind


class FdTable:
    def __init__(self) -> None:
        self._open: dict[tuple[int, int], FdEntry] = {}
        self._next_gen: dict[tuple[int, int], int] = {}
        self.labels: dict[tuple[int, int, int], tuple[str, str]] = {}  # fd_key -> (label, kind)

    def fork_process(self, parent: int, child: int) -> None:
        for (pid, fd), entry in list(self._open.items()):
            if pid == parent:
                self._start(child, fd, entry.label, entry.kind)

    def _start(self, pid: int, fd: int, label: str, kind: str) -> tuple[int, int, int]:
        slot = (pid, fd)
        gen = self._next_gen.get(slot, 0) + 1
        self._next_gen[slot] = gen
        self._open[slot] = FdEntry(gen, label, kind)
        key = (pid, fd, gen)
        self.labels[key] = (label, kind)
        return key

    def _use(self, pid: int, fd: int, fdinfo) -> tuple[int, int, int]:
        slot = (pid, fd)
        entry = self._open.get(slot)
        label, kind = label_of(fdinfo)
        if entry is None:
            return self._start(pid, fd, label, kind)
        key = (pid, fd, entry.generation)
        if fdinfo is not None and label != entry.label and _better(label, entry.label):
            self._open[slot] = FdEntry(entry.generation, label, kind)
            self.labels[key] = (label, kind)
        return key

    def observe(self, pid: int, call: Syscall) -> tuple[tuple[int, int, int] | None, str | None]:
        name = call.name
        failed = call.errno is not None or call.retval is None
        if name in RETURNS_FD and not failed and call.retval >= 0:
            info = call.ret_fd()
            if name in ("dup2", "dup3") or name.startswith("dup"):
                source = call.fd()
                if info is None or label_of(info)[0] == "fd":
                    info = source
            key = self._start(pid, call.retval, *label_of(info))
            return key, self.labels[key][0]
        if name in PAIR_CALLS:
            if not failed:
                for fd, info in _pair_fds(call):
                    self._start(pid, fd, *label_of(info))
            return None, None
        if name in NO_FD_ARG:
            return None, None
        info = call.fd()
        fd = info.number if info is not None else None
        if fd is None or fd < 0:
            return None, None
        key = self._use(pid, fd, info)
        if name == "close" and not failed:
            self._open.pop((pid, fd), None)
        return key, self.labels[key][0]


def _better(new: str, old: str) -> bool:
    """A connected/bound label beats an inode-only one ("TCP:[12345]")."""
    if new == old or new == "fd":
        return False
    if old == "fd" or ("->" in new and "->" not in old):
        return True
    return " " in new and " " not in old  # an address or path beats a bare kind


def _pair_fds(call: Syscall):
    """The two fds of pipe/pipe2/socketpair: `[3<pipe:[1]>, 4<pipe:[1]>]` in the arguments."""
    from syscorr.parse.fds import parse_fd

    for arg in call.arg_list():
        if arg.startswith("["):
            for part in arg.strip("[]").split(", "):
                info = parse_fd(part)
                if info is not None:
                    yield info.number, info
            return

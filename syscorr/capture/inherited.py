"""The fds a traced program inherits, read from /proc before it starts.

Contract: `inherited_fds()` describes syscorr's own descriptors that a child inherits (those
without close-on-exec: the tracer passes them on to the program): `{fd: {"kind", "path"?,
"local"?, "remote"?}}`, sockets resolved through /proc/net (tcp, tcp6, udp, udp6, unix) by
inode. The fd table seeds the program's first process with them, so an inherited socket (socket
activation, `uvicorn --fd 3`) is labelled though no socket() or accept() of it is in the trace.
Linux only; {} where /proc cannot tell. Reads a bounded amount (MAX_FDS descriptors).
"""

import fcntl
import os
import re
import socket

MAX_FDS = 256
_SOCKET = re.compile(r"^socket:\[(\d+)\]$")
_INET_TABLES = (("tcp", "TCP", False), ("tcp6", "TCPv6", True), ("udp", "UDP", False),
                ("udp6", "UDPv6", True))  # fmt: skip


def _address(text: str, v6: bool) -> str:
    """`0100007F:1F90` (hex, kernel byte order) -> `127.0.0.1:8080`."""
    host, _, port = text.partition(":")
    raw = bytes.fromhex(host)
    if v6:
        raw = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
        return f"[{socket.inet_ntop(socket.AF_INET6, raw)}]:{int(port, 16)}"
    return f"{socket.inet_ntop(socket.AF_INET, raw[::-1])}:{int(port, 16)}"


def _sockets(inodes: set[int]) -> dict[int, dict]:
    found: dict[int, dict] = {}
    for table, kind, v6 in _INET_TABLES:
        try:
            with open(f"/proc/net/{table}") as f:
                next(f, None)
                for line in f:
                    parts = line.split()
                    if len(parts) > 9 and parts[9].isdigit() and int(parts[9]) in inodes:
                        entry = {"kind": kind, "local": _address(parts[1], v6)}
                        if not parts[2].endswith(":0000"):
                            entry["remote"] = _address(parts[2], v6)
                        found[int(parts[9])] = entry
        except (OSError, ValueError):
            continue
    try:
        with open("/proc/net/unix") as f:
            next(f, None)
            for line in f:
                parts = line.split()
                if len(parts) > 6 and parts[6].isdigit() and int(parts[6]) in inodes:
                    kind = {"0001": "UNIX-STREAM", "0002": "UNIX-DGRAM"}.get(parts[4], "UNIX")
                    entry = {"kind": kind}
                    if len(parts) > 7:
                        entry["path"] = parts[7]
                    found[int(parts[6])] = entry
    except OSError:
        pass
    return found


def inherited_fds() -> dict[int, dict]:
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return {}
    links: dict[int, str] = {}
    for name in sorted(names, key=lambda n: int(n) if n.isdigit() else 0)[:MAX_FDS]:
        if not name.isdigit():
            continue
        fd = int(name)
        try:
            if fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC:
                continue
            links[fd] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
    inodes = {int(m.group(1)) for link in links.values() if (m := _SOCKET.match(link))}
    sockets = _sockets(inodes) if inodes else {}
    described: dict[int, dict] = {}
    for fd, link in links.items():
        if match := _SOCKET.match(link):
            described[fd] = sockets.get(int(match.group(1)), {"kind": "socket"})
        elif link.startswith("/"):
            described[fd] = {"kind": "file", "path": link}
        elif link.startswith("pipe:"):
            described[fd] = {"kind": "pipe"}
        elif link.startswith("anon_inode:"):
            described[fd] = {"kind": "anon_inode", "path": link.partition(":")[2]}
    return described

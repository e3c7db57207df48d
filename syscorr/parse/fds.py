"""File descriptors as strace -y/-yy decorates them, and socket address structures.

Contract: pure functions over one argument's text; None when the text is not what they read.
- `parse_fd("7<TCP:[127.0.0.1:56620->127.0.0.1:43947]>")` -> FdInfo(7, "TCP", local, remote)
  Kinds: "file" (path, octal escapes decoded), "TCP"/"TCPv6"/"UDP"/"UDPv6"/... (local and
  remote address, or inode before the socket is bound), "UNIX-STREAM"/"UNIX-DGRAM"/"UNIX"
  (inodes and path), "socket" (-y only: inode), "pipe" (inode), "anon_inode" (name:
  "eventpoll", "eventfd", ...), "" for a bare number (no -y).
- `parse_sockaddr("{sa_family=AF_INET, sin_port=htons(80), sin_addr=inet_addr(\"1.2.3.4\")}")`
  -> SockAddr("AF_INET", "1.2.3.4", 80, None); also AF_INET6 and AF_UNIX (sun_path), in the
  default, -X raw (`sin_port="\\x9d\\x05"`) and -X verbose forms.
"""

import ipaddress
import os
import re
from typing import NamedTuple

from .args import decode_string, field_value, split_args, struct_fields

INET_KINDS = frozenset({"TCP", "TCPv6", "UDP", "UDPv6", "UDPLITE", "UDPLITEv6", "SCTP", "SCTPv6"})
FAMILY_NUMBERS = {"0x1": "AF_UNIX", "0x2": "AF_INET", "0xa": "AF_INET6", "1": "AF_UNIX",
                  "2": "AF_INET", "10": "AF_INET6"}  # fmt: skip
_CALL = re.compile(r"(\w+)\((.*)\)$", re.DOTALL)


class Address(NamedTuple):
    host: str
    port: int | None


class FdInfo(NamedTuple):
    number: int
    kind: str  # see the module contract
    path: str | None = None  # file path, or a UNIX socket's path
    local: Address | None = None
    remote: Address | None = None
    inode: int | None = None
    name: str | None = None  # anon_inode name: "eventpoll"


class SockAddr(NamedTuple):
    family: str  # "AF_INET", "AF_INET6", "AF_UNIX", or as printed
    host: str | None
    port: int | None
    path: str | None  # sun_path (abstract sockets start with "@")


def _decode_path(text: str) -> str:
    if "\\" not in text:
        return text
    decoded = decode_string('"' + text + '"')
    return os.fsdecode(decoded.data) if decoded else text


def parse_address(text: str) -> Address | None:
    """`127.0.0.1:56620` or `[::1]:50222` -> Address."""
    host, colon, port = text.rpartition(":")
    if not colon or not port.isdecimal():
        return None
    if host[:1] == "[" and host[-1:] == "]":
        host = host[1:-1]
    return Address(host, int(port))


_MISSING = object()
_FD_CACHE: dict[str, FdInfo | None] = {}
FD_CACHE_SIZE = 8192  # distinct texts kept; the cache starts over when it is full


def parse_fd(text: str) -> FdInfo | None:
    """The fd in `text` with its decoration. Cached by the text: a socket's `-yy` label is the
    same on every call that uses it, and decoding it was a sixth of the report's time."""
    info = _FD_CACHE.get(text, _MISSING)
    if info is _MISSING:
        if len(_FD_CACHE) >= FD_CACHE_SIZE:
            _FD_CACHE.clear()
        info = _FD_CACHE[text] = _read_fd(text)
    return info


def _read_fd(text: str) -> FdInfo | None:
    text = text.strip()
    lt = text.find("<")
    number = text[:lt] if lt > 0 else text
    if not number.isdecimal():
        return None
    fd = int(number)
    if lt < 0:
        return FdInfo(fd, "")
    inner = text[lt + 1 : -1] if text.endswith(">") else text[lt + 1 :]
    if inner[:1] == "/":
        return FdInfo(fd, "file", path=_decode_path(inner))
    kind, colon, rest = inner.partition(":")
    if not colon or rest[:1] != "[" or rest[-1:] != "]":
        return FdInfo(fd, "file", path=_decode_path(inner))
    content = rest[1:-1]
    if kind in INET_KINDS:
        if content.isdecimal():
            return FdInfo(fd, kind, inode=int(content))
        local, arrow, remote = content.partition("->")
        return FdInfo(fd, kind, local=parse_address(local),
                      remote=parse_address(remote) if arrow else None)  # fmt: skip
    if kind.startswith("UNIX"):
        inodes, comma, path = content.partition(",")
        path = decode_string(path) if comma else None
        ours = inodes.partition("->")[0]
        return FdInfo(fd, kind, path=os.fsdecode(path.data) if path else None,
                      inode=int(ours) if ours.isdecimal() else None)  # fmt: skip
    if kind == "anon_inode":
        return FdInfo(fd, kind, name=content)
    return FdInfo(fd, kind, inode=int(content) if content.isdecimal() else None)


def _raw_or_call(value: str) -> tuple[str | None, str | None]:
    """A field value as (function name, inner text): `htons(80)` -> ("htons", "80")."""
    value = value.strip()
    if "/* " in value:  # -X verbose: `"\x9d\x05" /* htons(40197) */`
        value = field_value(value)
    m = _CALL.match(value)
    if m:
        return m.group(1), m.group(2)
    return None, value


def _port(value: str) -> int | None:
    func, inner = _raw_or_call(value)
    if func is not None:
        return int(inner) if inner and inner.isdecimal() else None
    raw = decode_string(inner or "")
    return int.from_bytes(raw.data, "big") if raw and len(raw.data) == 2 else None


def _host(value: str) -> str | None:
    func, inner = _raw_or_call(value)
    if func is not None:
        parts = split_args(inner or "")  # inet_pton(AF_INET6, "::1", &sin6_addr)
        text = decode_string(parts[1] if func == "inet_pton" and len(parts) > 1 else inner or "")
        return text.data.decode("ascii", "replace") if text else None
    raw = decode_string(inner or "")
    if raw and len(raw.data) in (4, 16):
        return str(ipaddress.ip_address(raw.data))
    return None


def parse_sockaddr(text: str) -> SockAddr | None:
    fields = struct_fields(text)
    family = fields.get("sa_family")
    if family is None:
        return None
    family = field_value(family)
    family = FAMILY_NUMBERS.get(family, family)
    if family == "AF_UNIX":
        path = fields.get("sun_path")
        abstract = path is not None and path.startswith("@")
        decoded = decode_string(path[1:] if abstract else path) if path else None
        name = os.fsdecode(decoded.data) if decoded else None
        return SockAddr(family, None, None, "@" + name if abstract and name else name)
    port_text = fields.get("sin_port") or fields.get("sin6_port")
    host_text = fields.get("sin_addr") or fields.get("sin6_addr")
    if host_text is None:  # inet_pton(AF_INET6, "::1", &sin6_addr) has no key
        host_text = next((v for k, v in fields.items() if v.startswith("inet_pton(")), None)
    return SockAddr(family, _host(host_text) if host_text else None,
                    _port(port_text) if port_text else None, None)  # fmt: skip


def first_sockaddr(args: list[str]) -> SockAddr | None:
    for arg in args:
        if arg.startswith("{sa_family="):
            return parse_sockaddr(arg)
    return None

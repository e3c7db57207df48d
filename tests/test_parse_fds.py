"""fds and socket addresses (syscorr.parse.fds), from text recorded in the fixtures."""

import pytest

from syscorr.parse.fds import Address, FdInfo, SockAddr, parse_fd, parse_sockaddr

FD_ROWS = [
    ("7<TCP:[127.0.0.1:56620->127.0.0.1:43947]>", FdInfo(7, "TCP",
        local=Address("127.0.0.1", 56620), remote=Address("127.0.0.1", 43947))),
    ("8<TCPv6:[[::1]:50222->[::1]:48865]>", FdInfo(8, "TCPv6",
        local=Address("::1", 50222), remote=Address("::1", 48865))),
    ("6<TCP:[127.0.0.1:41823]>", FdInfo(6, "TCP", local=Address("127.0.0.1", 41823))),
    ("8<TCP:[5910]>", FdInfo(8, "TCP", inode=5910)),
    ('6<UNIX-STREAM:[67045->67044,"/tmp/s.sock"]>', FdInfo(6, "UNIX-STREAM",
        path="/tmp/s.sock", inode=67045)),
    ("5<UNIX-STREAM:[7222->7221]>", FdInfo(5, "UNIX-STREAM", inode=7222)),
    ("3<anon_inode:[eventpoll]>", FdInfo(3, "anon_inode", name="eventpoll")),
    ("4<pipe:[12345]>", FdInfo(4, "pipe", inode=12345)),
    ("8<socket:[5902]>", FdInfo(8, "socket", inode=5902)),
    ("3</tmp/a\\40b\\303\\251>", FdInfo(3, "file", path="/tmp/a b\u00e9")),
    ("3", FdInfo(3, "")),
    ("AT_FDCWD", None),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), FD_ROWS)
def test_parse_fd(text, expected):
    assert parse_fd(text) == expected


INET = SockAddr("AF_INET", "127.0.0.1", 42499, None)
ADDR_ROWS = [
    ('{sa_family=AF_INET, sin_port=htons(42499), sin_addr=inet_addr("127.0.0.1")}', INET),
    ('{sa_family=0x2, sin_port="\\xa6\\x03", sin_addr="\\x7f\\x00\\x00\\x01"}', INET),
    ('{sa_family=0x2 /* AF_INET */, sin_port="\\xa6\\x03" /* htons(42499) */, '
     'sin_addr="\\x7f\\x00\\x00\\x01" /* inet_addr("127.0.0.1") */}', INET),
    ('{sa_family=AF_INET, sin_port=htons(42499), '
     'sin_addr=inet_addr("\\x31\\x32\\x37\\x2e\\x30\\x2e\\x30\\x2e\\x31")}', INET),
    ('{sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), '
     'inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}',
     SockAddr("AF_INET6", "::1", 443, None)),
    ('{sa_family=AF_UNIX, sun_path="/tmp/s.sock"}', SockAddr("AF_UNIX", None, None, "/tmp/s.sock")),
    ('{sa_family=AF_UNIX, sun_path=@"abstract"}', SockAddr("AF_UNIX", None, None, "@abstract")),
    ("0x7fffe4826290", None),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), ADDR_ROWS)
def test_parse_sockaddr(text, expected):
    assert parse_sockaddr(text) == expected

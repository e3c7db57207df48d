"""Lazy structured access to arguments: split, strings, ints (syscorr.parse.args)."""

import pytest

from syscorr.parse.args import ByteString, decode_string, parse_int, split_args

SPLIT_ROWS = [
    ("3, [], 1, 0", ["3", "[]", "1", "0"]),
    ('7<TCP:[127.0.0.1:5->127.0.0.1:6]>, "a, b", 4', ["7<TCP:[127.0.0.1:5->127.0.0.1:6]>",
                                                       '"a, b"', "4"]),
    ('6<UNIX-STREAM:[67045->67044,"/tmp/s.sock"]>, 1', ['6<UNIX-STREAM:[67045->67044,'
                                                        '"/tmp/s.sock"]>', "1"]),
    ('3</tmp/a,b>, "x\\"y,z"', ["3</tmp/a,b>", '"x\\"y,z"']),
    ("{a=1, b={c=2, d=3}}, [1, 2], [128 => 2]", ["{a=1, b={c=2, d=3}}", "[1, 2]", "[128 => 2]"]),
    ("", []),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), SPLIT_ROWS)
def test_split_args(text, expected):
    assert split_args(text) == expected


STRING_ROWS = [
    ('"task=client-0 round=0\\n"', ByteString(b"task=client-0 round=0\n", False)),
    ('"\\177ELF\\2\\1\\1\\0"...', ByteString(b"\x7fELF\x02\x01\x01\x00", True)),
    ('"\\x7f\\x45\\x4c\\x46"', ByteString(b"\x7fELF", False)),
    ('"a\\"b\\\\c\\t"', ByteString(b'a"b\\c\t', False)),
    ('"\\0", 1', None),
    ("0x7ffc52cc8fb0", None),
]


@pytest.mark.parametrize(("text", "expected"), STRING_ROWS)
def test_decode_string(text, expected):
    assert decode_string(text) == expected


@pytest.mark.parametrize(("text", "expected"), [("832", 832), ("0x1b", 27), ("[16]", 16),
    ("[128 => 2]", 2), ("7<TCP:[1.2.3.4:5]>", 7), ("-1", -1), ("NULL", None)])  # fmt: skip
def test_parse_int(text, expected):
    assert parse_int(text) == expected

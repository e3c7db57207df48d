"""The parser for syscorr's D script output, on sample output (fixtures/dtrace/README.md: written
by hand from the script's printf formats; no macOS here), and `syscorr import` of it."""

from pathlib import Path

from syscorr.capture.dtrace import SCRIPT
from syscorr.parse import sniff_format
from syscorr.parse.dtrace import parse_dtrace
from syscorr.parse.records import ExitRecord, Syscall, Unparsed
from tests.conftest import run_syscorr

LOG = Path(__file__).resolve().parent.parent / "fixtures" / "dtrace" / "echo.log"


def records():
    with open(LOG) as f:
        return list(parse_dtrace(f))


def test_sniffed_as_dtrace():
    assert sniff_format(LOG.read_text().splitlines()[:20]) == "dtrace"


def test_calls_payloads_and_errnos():
    calls = [r for r in records() if type(r) is Syscall]
    names = [c.name for c in calls]
    assert "close_nocancel" not in names and "close" in names  # _nocancel folded
    sends = [c for c in calls if c.name == "sendto"]
    assert [s.data().data for s in sends] == [
        b"task=client-0 round=0\n",
        b"task=handler-50123 echo-of=client-0 round=0\n",
    ]
    assert sends[0].fd().number == 7 and sends[0].retval == 22 and sends[0].duration == 9100
    eagain = next(c for c in calls if c.name == "read")
    assert (eagain.retval, eagain.errno) == (-1, "EAGAIN")
    connect = next(c for c in calls if c.name == "connect")
    assert connect.errno == "EINPROGRESS"
    quoted = next(c for c in calls if c.name == "write")
    assert quoted.data().data == b'quote "x"\n'
    assert calls[0].ts == 1796190000000001000 and calls[0].data().data.endswith(b"__init__.py")


def test_kevent_ready_lists_and_the_rest():
    out = records()
    kevents = [r for r in out if type(r) is Syscall and r.name == "kevent"]
    assert "{ident=6, filter=EVFILT_READ}, {ident=7, filter=EVFILT_WRITE}" in kevents[1].args
    assert [r.reason for r in out if type(r) is Unparsed] == ["dtrace message"]
    assert type(out[-1]) is ExitRecord and out[-1].kind == "exited"


def test_script_ships_with_the_format_the_parser_reads():
    text = SCRIPT.read_text()
    assert "# syscorr-dtrace 1" in text and "walltimestamp" in text and "progenyof($target)" in text
    for call in ("kevent", "select", "poll", "connect", "accept", "sendto", "recvfrom"):
        assert f"syscall::{call}:entry" in text


def test_import_and_report(tmp_path):
    out = tmp_path / "t"
    proc = run_syscorr("import", "-o", str(out), str(LOG))
    assert proc.returncode == 0, proc.stderr.decode()
    assert (out / "dtrace.log").exists()
    report = run_syscorr("report", str(out))
    assert report.returncode == 0, report.stderr.decode()
    assert b"kevent" in report.stdout or b"loop" in report.stdout.lower()

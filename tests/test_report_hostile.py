"""Every output format over one real trace full of hostile text (fixtures/apps/hostile_names.py,
run from a directory and a file whose names are hostile, with hostile argv): task names,
coroutine qualnames, thread names, file paths, socket paths, payloads and the command line
carry terminal escapes (CSI, OSC, 8-bit CSI), BEL, CR, backspace, NUL, bidi overrides, line
separators, GitHub workflow commands (`::error`, `##[error]`, `%0A`), rich markup and
XML-breaking characters.

Human outputs (report, --timeline, explain, check text, --github, JUnit, the pytest plugin's
lines) must show each string escaped and inert: no control character, no bidi override, no line
a CI runner reads as a command, no markup interpreted, well-formed XML. Machine outputs (JSON,
Perfetto) must load and keep the strings exactly. `HOSTILE_TRIED` counts what each format was
given; each test also checks how many of the hostile names reached its output."""

import io
import json
import os
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from syscorr.report.safe import guard_line, safe
from tests.conftest import APPS, run_syscorr


def _hostile() -> list[str]:
    import importlib.util

    spec = importlib.util.spec_from_file_location("hostile_names", APPS / "hostile_names.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.HOSTILE


HOSTILE = _hostile()

pytestmark = pytest.mark.slow

DIR_NAME = "dir \x1b[41m\x07\u202e\n::error::from-the-path"
FILE_NAME = "app\x1b]0;title\x07\r.py"
ARGV = ["arg\x1b[31m\x1b]8;;http://evil.example/\x1b\\", "two\n::error::argv", "[red]argv[/red]"]
INERT_C0 = {chr(c) for c in range(0x20)} - {"\n"}
ACTIVE = (
    INERT_C0
    | {"\x7f"}
    | {chr(c) for c in range(0x80, 0xA0)}
    | set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u2028\u2029")
)
# what the human formats were handed: each hostile string as a task name, coroutine qualname,
# thread name, file name and socket payload, plus the argv strings, the directory and file name
HOSTILE_TRIED = len(HOSTILE) * 5 + len(ARGV) + 2


@pytest.fixture(scope="module")
def trace(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("hostile")
    where = base / DIR_NAME
    where.mkdir()
    app = where / FILE_NAME
    shutil.copy(APPS / "hostile_names.py", app)
    out = base / "trace"
    done = run_syscorr("run", "-q", "-o", str(out), str(app), *ARGV, cwd=base)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return out


def run(*args: str) -> tuple[str, str, int]:
    done = run_syscorr(*args, env={**os.environ, "COLUMNS": "200"})
    return (
        done.stdout.decode("utf-8", "strict"),
        done.stderr.decode("utf-8", "strict"),
        done.returncode,
    )


def assert_inert(text: str, commands_allowed: bool = False) -> None:
    """No character a terminal acts on; no line a CI runner reads as a command."""
    bad = sorted({c for c in text if c in ACTIVE})
    assert not bad, f"raw control characters reached the output: {bad!r}"
    assert "##[" not in text
    for line in text.split("\n"):
        if line.lstrip().startswith("::"):
            assert commands_allowed and re.match(r"::(error|warning) ", line), line


def reached(text: str, transform=safe) -> list[str]:
    """The hostile names whose escaped form is in `text` (printed with -s, for the notes)."""
    found = [h for h in HOSTILE if transform(h) in text or guard_line(transform(h)) in text]
    print(
        f"\n{os.environ.get('PYTEST_CURRENT_TEST', '?').split(' ')[0]}: "
        f"{HOSTILE_TRIED} hostile strings tried, {len(found)} names reached the output"
    )
    return found


def test_report(trace):
    out, err, code = run("report", str(trace), "--top", "100")
    assert code == 0, err
    assert_inert(out)
    assert_inert(err)
    assert len(reached(out)) == len(HOSTILE)
    assert "[bold red]markup[/bold red]" in out  # shown as text, not read as markup
    assert safe(DIR_NAME) in out and "[red]argv[/red]" in out


def test_timeline(trace):
    out, err, code = run("report", str(trace), "--timeline", "--limit", "0", "--startup")
    assert code == 0, err
    assert_inert(out)
    assert len(reached(out)) == len(HOSTILE)
    # coroutine qualnames: every task starts "at <file>:<line> (<qualname>)"
    assert sum(f"({safe(h)})" in out for h in HOSTILE) == len(HOSTILE)


def test_timeline_filter_refusal(trace):
    out, err, code = run("report", str(trace), "--timeline", "--task", HOSTILE[0][:-1])
    assert code == 2
    assert_inert(err)
    assert safe(HOSTILE[0]) in err  # the closest name, escaped


def test_explain(trace):
    out, err, code = run("explain", str(trace), "--width", "200")
    assert code == 0, err
    assert_inert(out)
    assert len(reached(out)) >= 5


def test_check_text(trace):
    out, err, code = run("check", str(trace), "--no-github")
    assert code == 1, err
    assert_inert(out)
    assert len(reached(out)) == len(HOSTILE)


def test_check_github(trace):
    out, err, code = run("check", str(trace), "--github")
    assert code == 1, err
    assert_inert(out, commands_allowed=True)
    commands = [line for line in out.split("\n") if line.startswith("::")]
    assert len(commands) >= len(HOSTILE)  # one annotation per violation, nothing injected
    for line in commands:
        head, _, message = line.partition("::")[2].partition("::")
        assert re.fullmatch(r"(error|warning) [^:]*", head), line  # properties hold no `::`
    escaped = lambda h: safe(h).replace("%", "%25")  # noqa: E731
    assert len(reached(out, escaped)) == len(HOSTILE)


def test_check_junit(trace, tmp_path):
    report = tmp_path / "junit.xml"
    out, err, code = run("check", str(trace), "--no-github", "--junit", str(report))
    assert code == 1, err
    text = report.read_text(encoding="utf-8")
    assert_inert(text)
    root = ET.parse(report).getroot()  # well-formed, whatever the names held
    failures = " ".join(
        (f.get("message") or "") + "\n" + (f.text or "") for f in root.iter("failure")
    )
    assert len(reached(failures)) == len(HOSTILE)


def test_check_json_keeps_the_strings(trace):
    out, err, code = run("check", str(trace), "--json")
    assert code == 1, err
    assert_inert(out)  # JSON escapes what it carries
    data = json.loads(out)
    tasks = {v["task"] for v in data["violations"]}
    assert tasks >= set(HOSTILE)


@pytest.mark.parametrize("fmt", ["json", "perfetto", "html"])
def test_text_exports(trace, tmp_path, fmt):
    target = tmp_path / "out"
    out, err, code = run("report", str(trace), "-f", fmt, "-o", str(target))
    assert code == 0, err
    text = target.read_text(encoding="utf-8")
    if fmt == "html":
        assert_inert(text)
        assert "<img" not in text and "</failure>" not in text
        for data in re.findall(r'type="application/json">(.*?)</script>', text, re.S):
            json.loads(data)
        assert len(reached(html_unescape(text))) == len(HOSTILE)
        return
    assert not {c for c in text if c in ACTIVE}  # JSON's own escapes
    assert "##[" not in text  # written #\u0023[: the same value, no legacy CI command
    doc = json.loads(text)
    names = json.dumps(doc, ensure_ascii=False)
    assert sum(json.dumps(h, ensure_ascii=False)[1:-1] in names for h in HOSTILE) == len(HOSTILE)


def html_unescape(text: str) -> str:
    import html

    return html.unescape(text)


def test_perfetto_proto_decodes(trace, tmp_path):
    from perfetto.protos.perfetto.trace import perfetto_trace_pb2 as pb

    target = tmp_path / "out.pftrace"
    out, err, code = run("report", str(trace), "-f", "perfetto-proto", "-o", str(target))
    assert code == 0, err
    decoded = pb.Trace()
    decoded.ParseFromString(target.read_bytes())
    names = {p.track_descriptor.name for p in decoded.packet if p.HasField("track_descriptor")}
    assert sum(f"task {h}" in names for h in HOSTILE if "\x00" not in h) >= len(HOSTILE) - 1


def test_junit_writer_stays_well_formed_with_any_character():
    """Beyond the trace: every code point below 0x110000 that Python can encode goes through
    the JUnit writer's cleaning and the result parses."""
    from syscorr.check.junit import _clean

    chars = "".join(chr(c) for c in range(0x10000) if not 0xD800 <= c <= 0xDFFF)
    element = ET.Element("x", a=_clean(chars))
    element.text = _clean(chars + "\ud800")
    ET.fromstring(ET.tostring(element, encoding="unicode"))
    out = io.StringIO()
    ET.ElementTree(element).write(out, encoding="unicode")
    assert_inert(out.getvalue().replace("\n", ""))

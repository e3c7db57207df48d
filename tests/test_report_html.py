"""`syscorr report --format html`: the file is self-contained (no network, one inline script
allowed by its hash), its embedded data is the layout and cannot close its <script> element;
in headless Chromium (Debian's, driven by playwright) a recorded trace shows a lane per task, a
finding jumps to its syscall when clicked, hover shows details, nothing logs an error, and a
program's hostile payload and task name show as text without running anything."""

import html
import io
import json
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syscorr.report import htmlreport
from syscorr.report.perfetto_layout import layout
from syscorr.report.timeline import TimelineFilter
from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.conftest import APPS, run_syscorr
from tests.golden_util import load

DATA = re.compile(r'<script id="syscorr-data" type="application/json">(.*?)</script>', re.S)
CHUNK = re.compile(r'<script class="syscorr-chunk" type="application/json">(.*?)</script>', re.S)
TAIL = re.compile(r'<script id="syscorr-tail" type="application/json">(.*?)</script>', re.S)


def page_data(page: str) -> dict:
    """The page's data elements put back together: lanes with their columns, flows, findings."""
    data = json.loads(DATA.search(page).group(1))
    for lane in data["lanes"]:
        lane.update(start=[], dur=[], depth=[], names=[], cats=[], details=[])
    for text in CHUNK.findall(page):
        chunk = json.loads(text)
        lane, strings = data["lanes"][chunk["lane"]], chunk["strings"]
        for key in ("start", "dur", "depth"):
            lane[key] += chunk[key]
        for key, into in (("name", "names"), ("cat", "cats"), ("detail", "details")):
            lane[into] += [strings[i] for i in chunk[key]]
    data.update(json.loads(TAIL.search(page).group(1)))
    return data


def render(name: str, options: dict | None = None) -> str:
    summary = load(name, keep=lambda item: True)
    out = io.StringIO()
    htmlreport.render(summary, out, options or {"filters": TimelineFilter(), "top": 10})
    return out.getvalue()


@given(st.text())
def test_script_json_never_closes_the_element(text):
    encoded = htmlreport.script_json({"s": text, "l": [text]})
    assert not set("<>&") & set(encoded)
    assert json.loads(encoded) == {"s": text, "l": [text]}


@pytest.mark.parametrize("name", ["seed", "echo", "blocking"])
def test_self_contained_with_a_hashed_script_and_the_layout_as_data(name):
    page = render(name)
    tags = re.findall(r"<script[^>]*>", page)
    assert tags.count("<script>") == 1, tags  # the one script that runs: the rest is data
    assert all('type="application/json"' in t for t in tags if t != "<script>")
    assert "<link" not in page and "<iframe" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    csp = re.search(r'Content-Security-Policy" content="([^"]+)"', page).group(1)
    assert "default-src 'none'" in csp
    script = page.rsplit("<script>", 1)[1].split("</script>", 1)[0]
    import base64
    import hashlib

    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in csp
    data = page_data(page)
    lay = layout(load(name, keep=lambda item: True))
    assert sorted(lane["name"] for lane in data["lanes"]) == sorted(t.name for t in lay.tracks)
    assert sum(len(lane["start"]) for lane in data["lanes"]) == lay.slice_count()
    assert len(data["flows"]) == len(lay.flows)
    for lane in data["lanes"]:
        assert all(d >= 0 for d in lane["dur"]) and all(s >= 0 for s in lane["start"])


def test_findings_point_at_their_slices():
    summary = load("blocking", keep=lambda item: True)
    data = page_data(render("blocking"))
    assert len(data["findings"]) == len(summary.findings) > 0
    for finding, target in zip(summary.findings, data["findings"], strict=True):
        lane = data["lanes"][target["lane"]]
        i = target["slice"]
        assert lane["names"][i] == finding.syscall
        assert f"line: {finding.lineno}" in lane["details"][i]
        assert lane["start"][i] == finding.ts - data["origin_ns"]


def test_summary_text_is_escaped():
    page = render("echo")
    summary = load("echo")
    for account in summary.accounts.tasks.values():
        assert f"<td>{html.escape(account.name)}</td>" in page or account.name not in page


# --- in the browser -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("no /usr/bin/chromium: run scripts/bootstrap.d/chromium.sh")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def record_and_render(tmp_path: Path, app: str, *args: str) -> Path:
    trace = tmp_path / "trace"
    done = run_syscorr("run", "-o", str(trace), str(APPS / app), *args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    report = tmp_path / "report.html"
    done = run_syscorr("report", str(trace), "-f", "html", "-o", str(report), cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    return report


def open_page(browser, report: Path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    problems, dialogs = [], []
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else 0)
    page.on("pageerror", lambda err: problems.append(str(err)))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    uri = report.as_uri()
    page.on("request", lambda r: problems.append("request " + r.url) if r.url != uri else 0)
    page.goto(report.as_uri())
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    return page, problems, dialogs


def lane_names(page) -> list[str]:
    return page.eval_on_selector_all(".lane-label", "els => els.map(e => e.textContent)")


@pytest.mark.slow
@pytest.mark.parametrize(
    "app,args,tasks",
    [
        ("blocking.py", (), ["sleeper", "reader", "fetcher", "ticker"]),
        ("echo.py", ("--clients", "3", "--rounds", "3"), ["client-0", "client-1", "client-2"]),
    ],
)
def test_browser_shows_lanes_and_a_clickable_finding(browser, tmp_path, app, args, tasks):
    report = record_and_render(tmp_path, app, *args)
    page, problems, dialogs = open_page(browser, report)
    names = lane_names(page)
    for task in tasks:
        assert f"task {task}" in names
    assert any(n.endswith("(event loop)") for n in names)
    findings = page.locator("#findings li")
    if app == "blocking.py":
        assert findings.count() >= 3
        findings.first.click()
        selected = page.evaluate("window.syscorrReport.selected")
        assert selected is not None
        details = page.text_content("#details")
        assert "blocking.py:" in details and findings.first.get_attribute("class") == "active"
        name = details.split()[0]
        assert name in {"clock_nanosleep", "read", "recvfrom"}
        # the selected slice is on screen: hovering its middle shows the same details
        box = page.evaluate(
            """() => { const r = window.syscorrReport, s = r.selected, l = r.lanes[s.lane];
                 const c = document.getElementById('canvas').getBoundingClientRect();
                 const tl = document.getElementById('timeline');
                 const mid = (l.start[s.i] + l.end[s.i]) / 2;
                 const x = (mid - r.view.t0) / (r.view.t1 - r.view.t0) * c.width;
                 const y = l.top - tl.scrollTop + l.depth[s.i] * 18 + 9;
                 return {x: c.left + x, y: c.top + y}; }"""
        )
        page.mouse.move(box["x"], box["y"])
        assert page.is_visible("#tooltip")
        assert page.text_content("#tooltip").startswith(name)
    page.keyboard.press("w")
    page.keyboard.press("d")
    page.click("#zoom-reset")
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert (tmp_path / "report.png").stat().st_size > 10_000
    assert problems == [] and dialogs == []
    shutil.copy(tmp_path / "report.png", tmp_path.parent / f"{app}.png")  # for eyes in -s runs
    page.close()


@pytest.mark.slow
def test_hostile_payload_shows_as_text_and_runs_nothing(browser, tmp_path):
    report = record_and_render(tmp_path, "xss_payload.py")
    text = report.read_text()
    assert "<img" not in text and "</script><img" not in text
    page, problems, dialogs = open_page(browser, report)
    payload = "</script><img src=x onerror=alert(1)>"
    task_name = "<img src=x onerror=alert(2)>"
    assert f"task {task_name}" in lane_names(page)
    assert task_name in page.text_content("#findings")
    page.fill("#search", "onerror=alert(1)")
    page.press("#search", "Enter")
    matches = page.locator("#matches li")
    assert matches.count() >= 2  # the sendto and the recvfrom of both ends
    assert payload in matches.first.text_content()
    matches.first.click()
    assert payload in page.text_content("#details")
    assert page.evaluate("document.querySelectorAll('img').length") == 0
    page.screenshot(path=str(tmp_path / "xss.png"), full_page=True)
    assert dialogs == [] and problems == []
    page.close()


@pytest.mark.slow
def test_thousands_of_tasks_fold_into_groups_per_coroutine(browser, tmp_path):
    """3,000 tasks of three coroutines: the page opens with one folded group per coroutine
    (a few lanes, not thousands); a click on a group's label unfolds its tasks, a click on a
    finding inside a folded group unfolds it and selects the slice, a process label folds the
    whole process."""
    report = record_and_render(tmp_path, "many_tasks.py", "--tasks", "3000")
    page, problems, dialogs = open_page(browser, report)
    names = lane_names(page)
    assert len(names) < 20, names
    groups = [n for n in names if n.startswith("▸ ")]
    counts = {g.split(" ×")[0][2:]: int(g.split(" ×")[1].split()[0]) for g in groups if " ×" in g}
    assert {"fetch", "parse", "store"} <= set(counts), groups
    assert counts["fetch"] + counts["parse"] + counts["store"] == 3000
    assert not any(n.startswith("task fetch-") for n in names)
    page.click(".lane-label.group >> text=fetch")
    unfolded = lane_names(page)
    assert len(unfolded) == len(names) + counts["fetch"]
    assert "task fetch-0" in unfolded
    page.click(".lane-label.group >> text=fetch")
    assert len(lane_names(page)) == len(names)
    page.locator("#findings li").first.click()  # the blocking store-8 step, in a folded group
    selected = page.evaluate("window.syscorrReport.selected")
    assert selected is not None
    assert "task store-8" in lane_names(page)
    assert "store-8" in page.text_content("#details")
    page.click(".lane-label.process")
    assert len(lane_names(page)) <= 3  # the process lane and the counters
    page.screenshot(path=str(tmp_path / "many.png"))
    assert problems == [] and dialogs == []
    page.close()

#!/usr/bin/env python3
"""Benchmark the timeline exports on a trace of ~100k events.

Usage: .venv/bin/python scripts/bench_html.py [--events 100000] [--trace DIR] [--keep DIR]

Records fixtures/apps/echo.py with `syscorr run` (20 clients, rounds chosen to give about
--events correlation items), or reads an existing --trace. Then it makes the HTML report, the
Perfetto JSON and the Perfetto protobuf as the CLI does (the summary pass with the export
observing, then the write), printing each file's size, the pass and the write time; opens the
HTML in headless Chromium (/usr/bin/chromium through playwright, no browser download) and prints
the time until the page is interactive, the cost of one full repaint zoomed out and zoomed in,
and any console errors. --keep DIR keeps the outputs there.
"""

import argparse
import math
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from syscorr.analysis.findings import Rules  # noqa: E402
from syscorr.analysis.summary import summarize_trace  # noqa: E402
from syscorr.report.formats import EXPORTS  # noqa: E402
from syscorr.report.timeline import TimelineFilter  # noqa: E402
from tests.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

ITEMS_PER_ROUND_TRIP = 8.5  # measured on echo.py: syscalls + steps + iterations per echo
CLIENTS = 20


def record(events: int, where: Path) -> Path:
    rounds = math.ceil(events / ITEMS_PER_ROUND_TRIP / CLIENTS)
    trace = where / "trace"
    cmd = [
        sys.executable,
        "-m",
        "syscorr",
        "run",
        "-o",
        str(trace),
        str(ROOT / "fixtures/apps/echo.py"),
    ]
    cmd += ["--clients", str(CLIENTS), "--rounds", str(rounds), "--quiet"]
    started = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=where, capture_output=True)
    took = time.perf_counter() - started
    print(f"recorded echo.py --clients {CLIENTS} --rounds {rounds} in {took:.1f} s")
    return trace


def timed_render(fmt: str, trace: Path, path: Path, binary: bool) -> None:
    """One streaming export as the CLI makes it: the summary pass observed, then the write."""
    options = {"filters": TimelineFilter(), "top": 10, "limit_bytes": 1 << 40}
    export = EXPORTS[fmt](options)
    started = time.perf_counter()
    summary = summarize_trace(trace, Rules(), observe=export.observe)
    passed = time.perf_counter()
    with open(path, "wb" if binary else "w", encoding=None if binary else "utf-8") as f:
        export.write(summary, f)
    took = time.perf_counter() - passed
    print(f"{path.name:16} summary pass with the export observing: {passed - started:.1f} s")
    print(f"{path.name:16} {path.stat().st_size / 2**20:8.1f} MiB  written in {took:.2f} s")


def browser_load(report: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else 0)
        page.on("pageerror", lambda e: errors.append(str(e)))
        started = time.perf_counter()
        page.goto(report.as_uri())
        page.wait_for_selector("body[data-ready='1']", timeout=120_000)
        page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        loaded = time.perf_counter() - started
        repaint = page.evaluate(
            """() => { const r = window.syscorrReport, t = [];
                 for (const f of [1, 0.01]) {
                   r.zoomTo(0, r.view.t1 * f + 1); const s = performance.now();
                   for (let k = 0; k < 10; k++) r.paint();
                   t.push((performance.now() - s) / 10); }
                 return t; }"""
        )
        slices = page.evaluate("window.syscorrReport.lanes.reduce((n, l) => n + l.start.length, 0)")
        print(f"browser: {slices} slices, interactive after {loaded:.2f} s (navigation to ready)")
        print(
            f"browser: one repaint {repaint[0]:.1f} ms zoomed out, {repaint[1]:.1f} ms at 1% zoom"
        )
        print(f"browser: console errors: {errors or 'none'}")
        browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--trace", type=Path, help="an existing trace directory")
    parser.add_argument("--keep", type=Path, help="keep the outputs in this directory")
    opts = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="syscorr-bench-html-"))
    out = opts.keep or work
    out.mkdir(parents=True, exist_ok=True)
    try:
        trace = opts.trace or record(opts.events, work)
        timed_render("html", trace, out / "report.html", binary=False)
        timed_render("perfetto", trace, out / "trace.json", binary=False)
        timed_render("perfetto-proto", trace, out / "trace.pftrace", binary=True)
        if Path(CHROMIUM).exists():
            browser_load(out / "report.html")
        else:
            print("no /usr/bin/chromium: run scripts/bootstrap.d/chromium.sh for the load time")
    finally:
        if opts.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

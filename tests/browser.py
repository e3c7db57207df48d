"""How the tests and scripts/bench_html.py start a browser: Debian's Chromium, headless, driven
by playwright through `executable_path` (never a browser download), with the flags that keep it
off the network (this workplace has none)."""

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

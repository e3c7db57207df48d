"""Small formatting helpers shared by the renderers (durations, sizes, relative times, paths)."""

from syscorr.correlate.model import Frame


def ms(ns: int | None) -> str:
    if ns is None:
        return "?"
    if ns < 1_000_000:
        return f"{ns / 1000:.0f} µs"
    if ns < 10_000_000_000:
        return f"{ns / 1_000_000:.1f} ms"
    return f"{ns / 1_000_000_000:.2f} s"


def rel(ts: int | None, origin: int | None) -> str:
    if ts is None or origin is None:
        return "        ?"
    return f"{(ts - origin) / 1e9:+9.6f}"


def size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def where(frame: Frame | None) -> str:
    """`file.py:12 (qualname)`; `file.py (qualname)` when the line is not known (0)."""
    if frame is None:
        return ""
    line = f":{frame.line}" if frame.line else ""
    return f"{frame.filename.rsplit('/', 1)[-1]}{line} ({frame.qualname})"


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"

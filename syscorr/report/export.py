"""What every streaming export shares: observe during the pass, write after it, clean up.

Contract: an export is made from its options (`filters`, `top`, ...) and has `observe(item)`
(handed every correlation item by `summarize_trace(..., observe=...)`), `write(summary,
stream, progress)` (after the pass) and `close()` (removes its spill, whatever happened).
`LayoutExport` is the base of the three that draw the layout (HTML, Perfetto JSON and
protobuf): a `LayoutSink` in the sink's `order`, and `write_layout(summary, lay, stream,
progress)` to implement. `render_kept(export, summary, stream)` feeds a summary's kept items to
an export and writes it (tests, small traces: the same code path as the CLI's).
"""

from syscorr.report.perfetto_tracks import LayoutSink


class LayoutExport:
    order = "track"  # how the sink sorts the slices: per track, or "time" across tracks

    def __init__(self, options: dict | None = None) -> None:
        self.options = options or {}
        self.sink = LayoutSink(self.options.get("filters"), order=self.order)
        self.observe = self.sink.observe

    def write(self, summary, stream, progress=None) -> None:
        lay = self.sink.finish(summary)
        try:
            self.write_layout(summary, lay, stream, progress)
        finally:
            lay.close()

    def write_layout(self, summary, lay, stream, progress) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.sink.close()


def render_kept(export, summary, stream) -> None:
    try:
        for item in summary.items:
            export.observe(item)
        export.write(summary, stream)
    finally:
        export.close()

"""The export formats of `syscorr report --format`: a static table of streaming writers.

Contract: `EXPORTS[name](options)` makes the writer of an export format (`options` holds "top",
"filters" and, for Perfetto, "limit_bytes"; the shape is in syscorr.report.export): its
`observe(item)` is handed every correlation item during the summary pass
(`summarize_trace(..., observe=...)`) and spills what it needs, `write(summary, stream,
progress)` writes the file after the pass and `close()` removes the spill; memory stays bounded
whatever the trace's size. `RENDERERS[name]` is `render(summary, stream, options)` over a
summary's kept items (tests, small traces). `BINARY_FORMATS` write bytes, the others text.
"text" is not here: the terminal summary and timeline write to a rich Console (see
syscorr.report.terminal and .timeline).
"""

from syscorr.report import htmlreport, jsonreport, perfetto, perfetto_proto

EXPORTS = {
    "json": jsonreport.JsonExport,
    "html": htmlreport.HtmlExport,
    "perfetto": perfetto.PerfettoJsonExport,
    "perfetto-proto": perfetto_proto.PerfettoProtoExport,
}
RENDERERS = {
    "json": jsonreport.render,
    "html": htmlreport.render,
    "perfetto": perfetto.render,
    "perfetto-proto": perfetto_proto.render,
}
BINARY_FORMATS = frozenset({"perfetto-proto"})
FORMATS = ("text", *EXPORTS)

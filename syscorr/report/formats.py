"""The export formats of `syscorr report --format`: a static table of renderers.

Contract: `RENDERERS[name]` is `render(summary, stream, options)` for each export format
(`options` holds "top" and "filters"); `BINARY_FORMATS` write bytes, the others text. Every
renderer needs the summary's items kept (`keep` every item). "text" is not here: the terminal
summary and timeline write to a rich Console (see syscorr.report.terminal and .timeline).
"""

from syscorr.report import htmlreport, jsonreport, perfetto, perfetto_proto

RENDERERS = {
    "json": jsonreport.render,
    "html": htmlreport.render,
    "perfetto": perfetto.render,
    "perfetto-proto": perfetto_proto.render,
}
BINARY_FORMATS = frozenset({"perfetto-proto"})
FORMATS = ("text", *RENDERERS)

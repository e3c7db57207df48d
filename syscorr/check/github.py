"""GitHub Actions workflow commands: one `::error` annotation per place that failed.

Contract: `write_annotations(result, stream, workspace)` writes
`::error file=<path>,line=<n>,title=<rule>::<message>` per place (a place that failed several
times is one annotation on its worst occurrence, saying how often), paths relative to
`workspace` (GITHUB_WORKSPACE) so GitHub places them on the diff, and `::warning::` per
warning. Values are escaped as the runner expects (%, CR, LF; and `:` `,` in properties), after
syscorr.report.safe has escaped every other control character (the log viewer renders ANSI
escapes) and the legacy `##[` command opener, so trace text can neither end the annotation nor
start a command of its own.
`under_github_actions(environ)` is true when GITHUB_ACTIONS=true.
"""

import re

from syscorr.check.evaluate import CheckResult
from syscorr.check.locations import display_path
from syscorr.report.safe import safe

_BREAKS = {"\r": "%0D", "\n": "%0A"}


def escape_data(text: str) -> str:
    """CR and LF as the runner's %0D/%0A (a multi-line message), % as %25, and every other
    control character escaped by `safe`: nothing can end the command's line."""
    return "".join(
        _BREAKS.get(part) or safe(part).replace("%", "%25") for part in re.split("([\r\n])", text)
    )


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def under_github_actions(environ) -> bool:
    return environ.get("GITHUB_ACTIONS") == "true"


def write_annotations(result: CheckResult, stream, workspace: str | None = None) -> None:
    for group in result.groups():
        violation = group.worst
        props = []
        if violation.filename:
            props.append(f"file={escape_property(display_path(violation.filename, workspace))}")
            if violation.line:
                props.append(f"line={violation.line}")
        title = f"syscorr {violation.rule}"
        if violation.test:
            title += f" in {violation.test}"
        props.append(f"title={escape_property(title)}")
        message = violation.message()
        if group.count > 1:
            message += f" ({group.count}×, {group.total_ms:.1f} ms in all)"
        stream.write(f"::error {','.join(props)}::{escape_data(message)}\n")
    for warning in result.warnings:
        stream.write(f"::warning title=syscorr::{escape_data(warning)}\n")

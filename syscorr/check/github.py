"""GitHub Actions workflow commands: one `::error` annotation per place that failed.

Contract: `write_annotations(result, stream, workspace)` writes
`::error file=<path>,line=<n>,title=<rule>::<message>` per place (a place that failed several
times is one annotation on its worst occurrence, saying how often), paths relative to
`workspace` (GITHUB_WORKSPACE) so GitHub places them on the diff, and `::warning::` per
warning. Values are escaped as the runner expects (%, CR, LF; and `:` `,` in properties).
`under_github_actions(environ)` is true when GITHUB_ACTIONS=true.
"""

from syscorr.check.evaluate import CheckResult
from syscorr.check.locations import display_path


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


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

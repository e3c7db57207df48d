"""The pipeline's one entry: a trace in, one pass of parse -> correlate -> analyse, a summary out.

Contract: `summarize_trace(trace, rules, keep=..., observe=..., progress=...)` opens the trace
(a path, a `TraceDir`, or None for the latest; `TraceDirError` when it cannot be read) and
returns `summarize(...)` of it; report, explain, check, the pytest plugin and the golden tests
all come through here. `summarize(loaded, rules, ...)` parses the syscall logs and correlates
them with the agent events once (streaming) and returns a `TraceSummary` with the accounts,
findings, parse and correlation statistics and warnings. Items reach renderers in one of two
ways: `observe(item)` is handed every item as it is made (the streaming renderers: timeline,
JSON, HTML, Perfetto spill what they need and write after the pass, see
syscorr.report.export), and `keep` (a predicate) keeps the items it accepts in the summary's
`items` list, for small selections (check's test markers) and tests. By default nothing is
kept, so memory stays bounded by the number of tasks, fds and findings. `progress(n)` is called
every 10,000 items with the number of syscall records parsed so far.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from syscorr.analysis.accounting import Accounts
from syscorr.analysis.findings import FindingCollector, Rules
from syscorr.correlate.engine import CorrelationStats, Correlator
from syscorr.correlate.names import with_final_names
from syscorr.parse import ParseStats
from syscorr.trace import directory
from syscorr.trace.load import LoadedTrace, open_trace

PROGRESS_EVERY = 10_000


@dataclass
class TraceSummary:
    loaded: LoadedTrace
    rules: Rules
    accounts: Accounts
    findings: list
    items: list = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    parse_stats: ParseStats = field(default_factory=ParseStats)
    correlation_stats: CorrelationStats = field(default_factory=CorrelationStats)

    @property
    def meta(self) -> dict:
        return self.loaded.meta

    @property
    def has_agent(self) -> bool:
        return bool(self.loaded.agent_logs)

    @property
    def task_names(self) -> dict:
        return {key: t.name for key, t in self.accounts.tasks.items()}

    @property
    def thread_names(self) -> dict[int, str]:
        """tid -> the thread's name as the agent saw it (threading.Thread.name)."""
        names: dict[int, str] = {}
        for log in self.loaded.agent_logs:
            names.update(log.threads)
        return names


def summarize_trace(
    trace: "str | directory.TraceDir | None",
    rules: Rules = Rules(),
    keep: Callable[[object], bool] | None = None,
    progress: Callable[[int], None] | None = None,
    observe: Callable[[object], None] | None = None,
) -> TraceSummary:
    found = trace if isinstance(trace, directory.TraceDir) else directory.resolve(trace)
    return summarize(open_trace(found), rules, keep, progress, observe)


def summarize(
    loaded: LoadedTrace,
    rules: Rules = Rules(),
    keep: Callable[[object], bool] | None = None,
    progress: Callable[[int], None] | None = None,
    observe: Callable[[object], None] | None = None,
) -> TraceSummary:
    accounts = Accounts()
    agent_meta = {log.pid: log.meta for log in loaded.agent_logs}
    collector = FindingCollector(rules, agent_meta)
    parse_stats = ParseStats()
    correlator = Correlator(
        loaded.agent_logs, loaded.ignore_paths(), loaded.meta.get("inherited_fds")
    )
    kept: list = []
    count = 0
    for item in correlator.run(loaded.records(parse_stats)):
        accounts.add(item)
        collector.add(item)
        if observe is not None:
            observe(item)
        if keep is not None and keep(item):
            kept.append(item)
        count += 1
        if progress is not None and count % PROGRESS_EVERY == 0:
            progress(parse_stats.by_type["Syscall"])
    names = correlator.final_task_names()  # a task has one name: its last
    accounts.finish(names, agent_meta)
    collector.finish(names)
    kept = with_final_names(kept, names)
    warnings = list(loaded.warnings)
    parse_note = parse_stats.summary()
    if parse_note:
        warnings.append(parse_note)
    return TraceSummary(
        loaded,
        rules,
        accounts,
        collector.findings,
        kept,
        warnings,
        parse_stats,
        correlator.stats,
    )

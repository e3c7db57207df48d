"""One pass over a trace: correlation items feed every analysis, and a `TraceSummary` comes out.

Contract: `summarize(loaded, rules, keep=...)` consumes `loaded.correlated()` once and returns a
`TraceSummary` with the accounts, findings, parse and correlation statistics and warnings.
`keep` (a predicate over items) chooses which items are also kept in order for renderers that
show them one by one (the timeline, JSON, exports); by default none are kept, so memory stays
bounded by the number of tasks, fds and findings. `progress(n)` is called every 10,000 items.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from syscorr.analysis.accounting import Accounts
from syscorr.analysis.findings import FindingCollector, Rules
from syscorr.load import LoadedTrace

PROGRESS_EVERY = 10_000


@dataclass
class TraceSummary:
    loaded: LoadedTrace
    rules: Rules
    accounts: Accounts
    findings: list
    items: list = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def meta(self) -> dict:
        return self.loaded.meta

    @property
    def has_agent(self) -> bool:
        return bool(self.loaded.agent_logs)

    @property
    def task_names(self) -> dict:
        return {key: t.name for key, t in self.accounts.tasks.items()}


def summarize(
    loaded: LoadedTrace,
    rules: Rules = Rules(),
    keep: Callable[[object], bool] | None = None,
    progress: Callable[[int], None] | None = None,
) -> TraceSummary:
    accounts = Accounts()
    collector = FindingCollector(rules)
    kept: list = []
    count = 0
    for item in loaded.correlated():
        accounts.add(item)
        collector.add(item)
        if keep is not None and keep(item):
            kept.append(item)
        count += 1
        if progress is not None and count % PROGRESS_EVERY == 0:
            progress(count)
    accounts.finish()
    warnings = list(loaded.warnings)
    parse_note = loaded.parse_stats.summary()
    if parse_note:
        warnings.append(parse_note)
    summary = TraceSummary(loaded, rules, accounts, collector.findings, kept, warnings)
    return summary

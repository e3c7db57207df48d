"""Ground truth for attribution: payloads that name the task that sent them (`task=<name>`).

`tagged_sends(items)` finds every send/write whose payload carries a tag; `check(items)` returns
(number checked, list of mismatches) where a mismatch is (tag, attributed task name, log line).
"""

import re

from syscorr.correlate.model import SyscallItem
from syscorr.parse.vocabulary import IO_OUT

TAG = re.compile(rb"task=([A-Za-z0-9_.-]+)")


def tagged_sends(items):
    for item in items:
        if type(item) is not SyscallItem or item.io != IO_OUT:
            continue
        data = item.call.data()
        if data is None:
            continue
        match = TAG.search(data.data)
        if match:
            yield match.group(1).decode(), item


def check(items) -> tuple[int, list]:
    checked, wrong = 0, []
    for tag, item in tagged_sends(items):
        checked += 1
        if item.task_name != tag:
            wrong.append((tag, item.task_name, item.owner, item.call.lineno))
    return checked, wrong

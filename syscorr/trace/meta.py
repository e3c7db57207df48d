"""meta.json as readers may use it: every known field of the expected type, or left out.

Contract: `normalize(raw) -> (meta, problems)`. A trace directory is untrusted input (it may
come from elsewhere, be damaged, or lie): `raw` is whatever JSON object meta.json held. The
result holds only the fields of docs/trace-format.md, each of its documented type (a field of
another type is dropped and named in `problems`, one line each, at most MAX_PROBLEMS), with
bounded sizes (strings, lists), file names that stay inside the trace directory, and agent
paths that cannot hide the program's own syscalls (`agent.dir` must end in `.../agent`,
`agent.inject_dir` in `.../agent/inject`: readers drop syscalls naming them). Unknown
fields are kept when they are plain scalars (a newer syscorr's additions), dropped otherwise.
Renderers and the pipeline read this, never the raw object. Pure: no I/O.
"""

import math
import re
from pathlib import PurePosixPath

MAX_TEXT = 4096  # characters of one string field
MAX_ITEMS = 10_000  # entries of one list field (argv, logs, pids)
MAX_PROBLEMS = 8
_LOG_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,200}$")


class _Reader:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.dropped = 0

    def bad(self, where: str, what: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(f"meta.json: {where} {what}: left out")
        else:
            self.dropped += 1

    # ---- typed fields ----

    def text(self, obj: dict, key: str, where: str, choices: tuple[str, ...] = ()) -> str | None:
        value = obj.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            self.bad(where, "is not a string")
            return None
        if choices and value not in choices:
            self.bad(where, f"is {value[:40]!r}, not one of {', '.join(choices)}")
            return None
        return value[:MAX_TEXT]

    def integer(self, obj: dict, key: str, where: str, low: int = -(2**63), high: int = 2**63):
        value = obj.get(key)
        if value is None:
            return None
        if type(value) is not int or not low <= value <= high:
            self.bad(where, "is not an integer in range")
            return None
        return value

    def number(self, obj: dict, key: str, where: str) -> float | None:
        value = obj.get(key)
        if value is None:
            return None
        if type(value) not in (int, float) or not math.isfinite(value) or value < 0:
            self.bad(where, "is not a number")
            return None
        return value

    def boolean(self, obj: dict, key: str, where: str) -> bool | None:
        value = obj.get(key)
        if value is None:
            return None
        if type(value) is not bool:
            self.bad(where, "is not true or false")
            return None
        return value

    def texts(self, obj: dict, key: str, where: str) -> list[str] | None:
        value = obj.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.bad(where, "is not a list of strings")
            return None
        if len(value) > MAX_ITEMS:
            self.bad(where, f"has {len(value)} entries (more than {MAX_ITEMS})")
            return None
        return [v[:MAX_TEXT] for v in value]

    def integers(self, obj: dict, key: str, where: str) -> list[int] | None:
        value = obj.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or not all(type(v) is int and v >= 0 for v in value):
            self.bad(where, "is not a list of pids")
            return None
        return value[:MAX_ITEMS]

    def section(self, obj: dict, key: str, where: str) -> dict | None:
        value = obj.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            self.bad(where, "is not an object")
            return None
        return value


def _scalar(value) -> bool:
    if isinstance(value, str):
        return len(value) <= MAX_TEXT
    return (
        value is None
        or type(value) in (int, bool)
        or (type(value) is float and math.isfinite(value))
    )


def _plain(value, depth: int = 3) -> bool:
    """A scalar, or small lists and objects of them (a backend's counters: `lost_per_cpu`)."""
    if _scalar(value):
        return True
    if depth == 0:
        return False
    if isinstance(value, list):
        return len(value) <= 1024 and all(_plain(v, depth - 1) for v in value)
    if isinstance(value, dict):
        return len(value) <= 64 and all(
            isinstance(k, str) and _plain(v, depth - 1) for k, v in value.items()
        )
    return False


def _extras(raw: dict, known: set[str]) -> dict:
    return {k: v for k, v in raw.items() if k not in known and isinstance(k, str) and _plain(v)}


def _clock_pair(r: _Reader, obj: dict | None, where: str) -> dict | None:
    if obj is None:
        return None
    pair = {
        "realtime_ns": r.integer(obj, "realtime_ns", f"{where}.realtime_ns"),
        "monotonic_ns": r.integer(obj, "monotonic_ns", f"{where}.monotonic_ns"),
    }
    return pair if None not in pair.values() else None


def _backend(r: _Reader, raw: dict) -> dict | None:
    obj = r.section(raw, "backend", "backend")
    if obj is None:
        return None
    out = {
        "name": r.text(obj, "name", "backend.name"),
        "version": r.text(obj, "version", "backend.version"),
        "argv": r.texts(obj, "argv", "backend.argv"),
        "clock": r.text(obj, "clock", "backend.clock", ("realtime", "monotonic", "unknown")),
        "log_format": r.text(
            obj, "log_format", "backend.log_format", ("strace", "ebpf", "dtruss", "dtrace")
        ),
    }
    out.update(_extras(obj, set(out)))
    return out


def _agent(r: _Reader, raw: dict) -> dict | None:
    obj = r.section(raw, "agent", "agent")
    if obj is None:
        return None
    out = {"call_sites": r.boolean(obj, "call_sites", "agent.call_sites")}
    for key, suffix in (("dir", ("agent",)), ("inject_dir", ("agent", "inject"))):
        path = r.text(obj, key, f"agent.{key}")
        parts = PurePosixPath(path).parts if path is not None else ()
        if path is not None and (len(parts) <= len(suffix) or parts[-len(suffix) :] != suffix):
            r.bad(f"agent.{key}", f"is {path[:60]!r}, not an agent directory")
            path = None
        out[key] = path
    out.update(_extras(obj, set(out)))
    return out


def _exit(r: _Reader, raw: dict) -> dict | None:
    obj = r.section(raw, "exit", "exit")
    if obj is None:
        return None
    out = {
        "code": r.integer(obj, "code", "exit.code", -(2**31), 2**31),
        "signal": r.integer(obj, "signal", "exit.signal", 1, 128),
        "signal_name": r.text(obj, "signal_name", "exit.signal_name"),
        "interrupted_by": r.integer(obj, "interrupted_by", "exit.interrupted_by", 1, 128),
        "pid": r.integer(obj, "pid", "exit.pid", 0, 2**32),
        "timed_out": r.boolean(obj, "timed_out", "exit.timed_out"),
        "tracer_died": r.text(obj, "tracer_died", "exit.tracer_died"),
        "program_after_tracer": r.text(obj, "program_after_tracer", "exit.program_after_tracer"),
        "left_running": r.integers(obj, "left_running", "exit.left_running"),
    }
    for optional in ("pid", "timed_out", "tracer_died", "program_after_tracer", "left_running"):
        if out[optional] is None:
            del out[optional]
    if out.get("signal_name") is None:
        out.pop("signal_name")
    out.update(_extras(obj, set(out) | {"signal_name"}))
    return out


def _capture(r: _Reader, raw: dict) -> dict | None:
    obj = r.section(raw, "capture", "capture")
    if obj is None:
        return None
    return {
        "log_bytes": r.integer(obj, "log_bytes", "capture.log_bytes", 0),
        "failed": r.text(obj, "failed", "capture.failed"),
        "failed_at_ns": r.integer(obj, "failed_at_ns", "capture.failed_at_ns"),
        "lost_bytes": r.integer(obj, "lost_bytes", "capture.lost_bytes", 0) or 0,
        "lost_lines": r.integer(obj, "lost_lines", "capture.lost_lines", 0) or 0,
        "finished": r.boolean(obj, "finished", "capture.finished"),
    }


def _syscall_logs(r: _Reader, raw: dict) -> list[str] | None:
    names = r.texts(raw, "syscall_logs", "syscall_logs")
    if names is None:
        return None
    bad = [n for n in names if not _LOG_NAME.match(n) or n in ("meta.json", "agent")]
    if bad or not names:
        r.bad(
            "syscall_logs", f"names {bad[0][:60]!r}, not a log in the trace" if bad else "is empty"
        )
        return None
    return names


def _inherited_fds(r: _Reader, raw: dict) -> dict | None:
    obj = r.section(raw, "inherited_fds", "inherited_fds")
    if obj is None:
        return None
    out = {}
    for fd, facts in list(obj.items())[:1024]:
        if not fd.isdigit() or not isinstance(facts, dict):
            r.bad(f"inherited_fds.{fd[:20]}", "is not an fd's description")
            continue
        entry = {
            k: r.text(facts, k, f"inherited_fds.{fd}.{k}")
            for k in ("kind", "path", "local", "remote")
        }
        if entry["kind"] is not None:
            out[fd] = {k: v for k, v in entry.items() if v is not None}
    return out


KNOWN = {
    "format_version", "syscorr_version", "kind", "command", "cwd", "target_python", "backend",
    "syscall_set", "syscall_logs", "agent", "wait", "clocks", "exit", "capture", "imported_from",
    "inherited_fds", "attach",
}  # fmt: skip


# null is meaningful here (an exit code of a program killed by a signal, "all syscalls")
_NULLABLE = {("exit", "code"), ("exit", "signal"), ("exit", "interrupted_by"),
             ("syscall_set", "syscalls")}  # fmt: skip


def _without_nulls(obj: dict, where: str = "") -> dict:
    """Absent rather than null: readers write `meta.get("backend", {})`."""
    out = {}
    for key, value in obj.items():
        if isinstance(value, dict):
            out[key] = _without_nulls(value, key)
        elif value is not None or (where, key) in _NULLABLE:
            out[key] = value
    return out


def normalize(raw: dict) -> tuple[dict, list[str]]:
    r = _Reader()
    meta: dict = {"format_version": raw.get("format_version")}
    meta["syscorr_version"] = r.text(raw, "syscorr_version", "syscorr_version")
    meta["kind"] = r.text(raw, "kind", "kind", ("run", "import", "attach"))
    meta["command"] = r.texts(raw, "command", "command")
    meta["cwd"] = r.text(raw, "cwd", "cwd")
    meta["target_python"] = r.text(raw, "target_python", "target_python")
    meta["backend"] = _backend(r, raw)
    syscall_set = r.section(raw, "syscall_set", "syscall_set")
    if syscall_set is not None:
        meta["syscall_set"] = {
            "name": r.text(syscall_set, "name", "syscall_set.name"),
            "syscalls": r.texts(syscall_set, "syscalls", "syscall_set.syscalls"),
        }
    meta["syscall_logs"] = _syscall_logs(r, raw)
    meta["agent"] = _agent(r, raw)
    wait = r.section(raw, "wait", "wait")
    if wait is not None:
        meta["wait"] = {
            "for": r.text(wait, "for", "wait.for", ("main", "children")),
            "timeout_s": r.number(wait, "timeout_s", "wait.timeout_s"),
        }
    clocks = r.section(raw, "clocks", "clocks")
    if clocks is not None:
        meta["clocks"] = {
            side: _clock_pair(r, r.section(clocks, side, f"clocks.{side}"), f"clocks.{side}")
            for side in ("start", "end")
        }
    meta["exit"] = _exit(r, raw)
    capture = _capture(r, raw)
    if capture is not None:
        meta["capture"] = capture
    attach = r.section(raw, "attach", "attach")
    if attach is not None:
        meta["attach"] = {
            "pid": r.integer(attach, "pid", "attach.pid", 0, 2**32),
            "duration_s": r.number(attach, "duration_s", "attach.duration_s"),
            "agent": r.text(attach, "agent", "attach.agent"),
        }
    inherited = _inherited_fds(r, raw)
    if inherited:
        meta["inherited_fds"] = inherited
    imported = r.texts(raw, "imported_from", "imported_from")
    if imported is not None:
        meta["imported_from"] = imported
    meta.update(_extras(raw, KNOWN))
    meta = _without_nulls(meta)
    if "exit" in raw and "exit" not in meta:
        meta["exit"] = None  # null: the run has not ended (or syscorr was killed)
    problems = r.problems
    if r.dropped:
        problems.append(f"meta.json: {r.dropped} more fields of the wrong type left out")
    return meta, problems

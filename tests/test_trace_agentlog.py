"""The agent log format: writer (agent) and reader (syscorr.trace.agentlog) agree, and the
reader never raises on damaged content. The writer is the agent's own module, loaded from
its file."""

import importlib.util
import os
import struct
import sys
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syscorr.errors import TraceDirError
from syscorr.trace import agentlog
from syscorr.trace.agentlog import AgentEvent, CodeInfo, EventKind, TaskName, read_agent_log

INJECT = Path(agentlog.__file__).parent.parent / "agent" / "inject"
FORMAT_NAMES = [
    "MAGIC", "FORMAT_VERSION", "HEADER_FORMAT", "EVENT_FORMAT", "RECORD_HEAD_FORMAT",
    "RECORD_ALIGN", "REC_META", "REC_CODE", "REC_NAME", "REC_TASK_NAME", "REC_THREAD",
    "REC_ERROR", "REC_END", "REC_PAD", "CODE_FORMAT", "LINE_FORMAT", "NAME_FORMAT",
    "TASK_NAME_FORMAT", "THREAD_FORMAT", "ERROR_FORMAT",
]  # fmt: skip


def load_inject_module(name):
    spec = importlib.util.spec_from_file_location(name, INJECT / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


writer_mod = load_inject_module("_syscorr_agent_log")


def block_names(path, begin):
    """Names assigned in the marked constants block of a source file."""
    text = path.read_text()
    block = text[text.index(begin) : text.index("# ---- end of")]
    return {line.split(" =")[0] for line in block.splitlines() if " = " in line and line[0] != "#"}


def test_record_format_constants_agree_between_writer_and_reader():
    for name in FORMAT_NAMES:
        assert getattr(writer_mod, name) == getattr(agentlog, name), name
    marker = "# ---- record format"
    assert block_names(INJECT / "_syscorr_agent_log.py", marker) == set(FORMAT_NAMES)
    assert block_names(Path(agentlog.__file__), marker) == set(FORMAT_NAMES)
    assert struct.calcsize(agentlog.HEADER_FORMAT) == struct.calcsize(agentlog.EVENT_FORMAT) == 32


def test_event_kinds_agree_between_agent_and_reader():
    path = INJECT / "_syscorr_agent.py"
    text = path.read_text()
    block = text[text.index("# ---- event kinds") : text.index("# ---- end of event kinds")]
    agent_kinds = {}
    for line in block.splitlines()[1:]:
        name, value = line.split(" = ")
        agent_kinds[name] = int(value)
    assert agent_kinds == {kind.name: kind.value for kind in EventKind}
    assert max(agent_kinds.values()) < agentlog.REC_META  # first byte tells events from records


async def sample_coroutine():
    return 1


def write_sample(tmp_path, initial_size=1 << 16):
    writer = writer_mod.LogWriter.create(str(tmp_path), 4242, initial_size=initial_size)
    writer.meta({"pid": 4242, "clock": "realtime"})
    writer.code(1, sample_coroutine.__code__)
    writer.name(1, "Task.__step")
    writer.thread(77, "MainThread")
    writer.task_name(0xDEAD, 5, "client-0")
    writer.event(EventKind.PY_START, 77, 10, 0xDEAD, 1, 0)
    writer.event(EventKind.CALLBACK_START, 77, 11, 0xDEAD, 1, 0)
    writer.error(12, "something went wrong: ü")
    return writer


def test_round_trip_of_every_record_type(tmp_path):
    writer = write_sample(tmp_path)
    writer.meta({"teardown_start_ns": 13}, rtype=agentlog.REC_END)
    writer.close()
    log = read_agent_log(writer.path)
    assert os.path.getsize(writer.path) == writer.used
    assert log.pid == 4242 and log.meta == {"pid": 4242, "clock": "realtime"}
    code = sample_coroutine.__code__
    assert log.codes == {
        1: CodeInfo("sample_coroutine", code.co_filename, code.co_firstlineno,
                    tuple(code.co_lines()))
    }  # fmt: skip
    assert log.names == {1: "Task.__step"} and log.threads == {77: "MainThread"}
    assert log.task_names == [TaskName(0xDEAD, 5, "client-0")]
    assert log.events == [
        AgentEvent(EventKind.PY_START, 77, 10, 0xDEAD, 1, 0, 0),
        AgentEvent(EventKind.CALLBACK_START, 77, 11, 0xDEAD, 1, 0, 1),
    ]
    assert log.errors == ["something went wrong: ü"]
    assert log.end == {"teardown_start_ns": 13} and log.damaged == 0


def test_unclosed_log_reads_up_to_the_first_zero(tmp_path):
    writer = write_sample(tmp_path)  # never closed: as after SIGKILL, the sparse tail stays
    log = read_agent_log(writer.path)
    assert len(log.events) == 2 and log.damaged == 0 and log.end is None
    assert os.path.getsize(writer.path) == (1 << 16) + writer_mod.TAIL_SIZE


def test_growing_the_map_keeps_every_record(tmp_path):
    writer = writer_mod.LogWriter.create(str(tmp_path), 1, initial_size=4096)
    for i in range(1000):
        writer.event(EventKind.PY_RESUME, 1, i, 0, 1, i)
    writer.close()
    log = read_agent_log(writer.path)
    assert [e.ts for e in log.events] == list(range(1000)) and log.damaged == 0


@pytest.mark.parametrize("locked", [False, True], ids=["mmap-write", "locked-write"])
def test_threads_appending_at_once_never_interleave_or_lose_records(tmp_path, locked):
    """Appends take no lock (one mmap.write each, atomic under the GIL): records from several
    threads, while the map grows under them, all come back whole, in each thread's order. The
    locked variant is what a free-threaded build uses."""
    writer = writer_mod.LogWriter.create(str(tmp_path), 1, initial_size=4096)
    if locked:
        writer.write = writer._locked_write
    per_thread = 5000
    together = threading.Barrier(4)

    def append(tid):
        together.wait()  # all four append at once, however loaded the machine is
        for i in range(per_thread):
            writer.event(EventKind.PY_RESUME, tid, i, tid, 1, i)
            if i % 100 == 0:
                time.sleep(0)  # hand the GIL over now and then, so the threads interleave
            if i % 500 == 0:
                writer.name(tid * 100_000 + i, f"thread {tid} name {i} " + "x" * (i % 37))

    threads = [threading.Thread(target=append, args=(tid,)) for tid in range(1, 5)]
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(0.005)
    writer.close()
    log = read_agent_log(writer.path)
    assert log.damaged == 0
    for tid in range(1, 5):
        assert [e.ts for e in log.events if e.tid == tid] == list(range(per_thread))
        for i in range(0, per_thread, 500):
            assert log.names[tid * 100_000 + i] == f"thread {tid} name {i} " + "x" * (i % 37)
    tids = [e.tid for e in log.events]
    switches = sum(a != b for a, b in zip(tids, tids[1:], strict=False))
    assert switches > 4  # the threads did interleave


@settings(max_examples=200, deadline=None)
@given(
    records=st.lists(
        st.tuples(
            st.sampled_from(list(EventKind)),
            st.integers(0, 2**32 - 1),
            st.integers(-(2**63), 2**63 - 1),
            st.integers(0, 2**64 - 1),
            st.integers(0, 2**32 - 1),
            st.integers(0, 2**32 - 1),
        ),
        max_size=50,
    ),
    names=st.lists(st.text(max_size=40), max_size=5),
)
def test_round_trip_property(tmp_path_factory, records, names):
    writer = writer_mod.LogWriter.create(str(tmp_path_factory.mktemp("log")), 1, 4096)
    for i, name in enumerate(names):
        writer.name(i + 1, name)
    for record in records:
        writer.event(*record)
    writer.close()
    log = read_agent_log(writer.path)
    assert [tuple(e)[:6] for e in log.events] == records
    assert log.names == {i + 1: name for i, name in enumerate(names)}


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_damaged_content_never_raises(tmp_path_factory, data):
    writer = write_sample(tmp_path_factory.mktemp("log"))
    writer.close()
    raw = bytearray(Path(writer.path).read_bytes())
    header = struct.calcsize(agentlog.HEADER_FORMAT)
    cut = data.draw(st.integers(header, len(raw)))
    flips = data.draw(st.lists(st.tuples(st.integers(header, len(raw) - 1), st.integers(0, 255))))
    for at, value in flips:
        raw[at] = value
    Path(writer.path).write_bytes(bytes(raw[:cut]))
    log = read_agent_log(writer.path)
    assert log.damaged >= 0
    if not flips and cut == len(raw):
        assert log.damaged == 0 and len(log.events) == 2


def test_torn_tail_is_counted_as_damage(tmp_path):
    writer = write_sample(tmp_path)
    writer.close()
    raw = Path(writer.path).read_bytes()
    Path(writer.path).write_bytes(raw[:-5])  # the error record lost its last bytes
    log = read_agent_log(writer.path)
    assert len(log.events) == 2 and log.errors == [] and log.damaged > 0


def test_not_an_agent_log_raises_trace_dir_error(tmp_path):
    with pytest.raises(TraceDirError, match="cannot read"):
        read_agent_log(tmp_path / "missing.bin")
    bogus = tmp_path / "agent-1.bin"
    bogus.write_bytes(b"x" * 100)
    with pytest.raises(TraceDirError, match="bad magic"):
        read_agent_log(bogus)
    bogus.write_bytes(b"")
    with pytest.raises(TraceDirError, match="too short"):
        read_agent_log(bogus)


def test_newer_format_is_refused_with_upgrade_hint(tmp_path):
    writer = write_sample(tmp_path)
    writer.close()
    raw = bytearray(Path(writer.path).read_bytes())
    struct.pack_into("<H", raw, 8, agentlog.FORMAT_VERSION + 1)
    Path(writer.path).write_bytes(bytes(raw))
    with pytest.raises(TraceDirError, match="upgrade"):
        read_agent_log(writer.path)


def test_second_log_of_one_pid_gets_its_own_name(tmp_path):
    first = writer_mod.LogWriter.create(str(tmp_path), 9, 4096)
    second = writer_mod.LogWriter.create(str(tmp_path), 9, 4096)
    assert Path(first.path).name == "agent-9.bin" and Path(second.path).name == "agent-9.1.bin"
    first.close()
    second.close()
    assert [log.pid for log in agentlog.read_agent_logs(tmp_path)] == [9, 9]


def test_line_at_maps_offsets_to_lines():
    info = CodeInfo("f", "f.py", 10, ((0, 4, 10), (4, 8, None), (8, 12, 12)))
    assert [info.line_at(o) for o in (0, 5, 9, 100)] == [10, 10, 12, 10]

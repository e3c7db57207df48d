# The syscorr agent: records this process's coroutine steps and asyncio callbacks (sys.monitoring).
#
# Contract (the runner only sets environment variables; sitecustomize.py calls `start()`):
#   SYSCORR_AGENT_DIR    write the log `agent-<pid>.bin` there; unset -> the agent does nothing.
#   SYSCORR_CLOCK        realtime (time.time_ns, default) | monotonic (time.monotonic_ns).
#   SYSCORR_CALL_SITES   0 -> no CALL events (default 1).
#   SYSCORR_CALL_GAP_NS  a CALL is written only if the next event is this many ns later (500000).
#   SYSCORR_STDLIB_FRAMES  1 -> all events of stdlib coroutines (default: the innermost YIELD).
#   SYSCORR_AGENT_DEBUG  1 -> write `agent-<pid>.debug` (lifecycle, not per event) next to the log.
#   SYSCORR_AGENT_TEST_FAIL_AFTER=N  test hook: an internal error after N events (see tests).
# Events: a global PY_START classifies each code object once: coroutine / iterable coroutine /
# async generator code gets local PY_RESUME, PY_YIELD, PY_RETURN (and CALL); asyncio's
# `Handle._run` gives CALLBACK_START/END, `BaseEventLoop._run_once` LOOP_ITERATION and
# concurrent.futures' `_WorkItem.__init__`/`run` WORK_SUBMIT/START/END (executor work: which task
# submitted what a worker thread runs); every other code object gets DISABLE. PY_THROW and
# PY_UNWIND can only be global: they are filtered here.
# Safety: never raises into the target (an internal error disables monitoring and is written to
# the log), never writes to stdout/stderr, starts no threads. Python < 3.12: does nothing.
# Standard library only: it runs on the target's interpreter and must never import syscorr.

import _thread
import _weakref
import atexit
import functools
import itertools
import os
import sys
import time
import types

from _syscorr_agent_log import REC_END, LogWriter, pack_event

# ---- event kinds: keep in sync with syscorr.trace.agentlog.EventKind (a test checks) ----
PY_START = 1
PY_RESUME = 2
PY_THROW = 3
PY_YIELD = 4
PY_RETURN = 5
PY_UNWIND = 6
CALL = 7
CALLBACK_START = 8
CALLBACK_END = 9
LOOP_ITERATION = 10
AGENT_ERROR = 11
WORK_SUBMIT = 12
WORK_START = 13
WORK_END = 14
# ---- end of event kinds ----

TOOL_NAME = "syscorr"
DEFAULT_CALL_GAP_NS = 500_000
TOOL_ID_PREFERENCE = (4, 3, 5, 2, 1, 0)
COROUTINE_FLAGS = 0x80 | 0x100 | 0x200  # CO_COROUTINE | CO_ITERABLE_COROUTINE | CO_ASYNC_GENERATOR

_CORO, _HANDLE_RUN, _RUN_ONCE = "coroutine", "Handle._run", "BaseEventLoop._run_once"
# A coroutine of the standard library (asyncio's streams, sleep, locks...): only its YIELDs are
# recorded (they name what a task waits on); its other events would double the cost per await
# and say nothing about the user's code. SYSCORR_STDLIB_FRAMES=1 records them all.
_LIB_CORO = "library coroutine"
_STDLIB_DIR = os.path.dirname(os.__file__) + os.sep
_INSTALLED_DIRS = (os.sep + "site-packages" + os.sep, os.sep + "dist-packages" + os.sep)
_WORK_INIT, _WORK_RUN = "_WorkItem.__init__", "_WorkItem.run"  # concurrent.futures.thread
_ASYNCIO_DIR = os.sep + "asyncio" + os.sep
_EXECUTOR_FILE = os.sep + "concurrent" + os.sep + "futures" + os.sep + "thread.py"

_MethodType, _FunctionType = types.MethodType, types.FunctionType
_BuiltinMethodType = types.BuiltinMethodType  # also builtin functions: the same type
_MethodDescriptorType = types.MethodDescriptorType  # str.encode as `s.encode()` calls it
_CoroutineType, _ModuleType = types.CoroutineType, types.ModuleType
# A type's name, read by type's own getter: a metaclass's __getattribute__ never runs
_type_name = type.__dict__["__name__"].__get__
_type_qualname = type.__dict__["__qualname__"].__get__
_type_module = type.__dict__["__module__"].__get__

# Calls that cannot block are not worth a callback each: their CALL site is disabled at first
# sight, provided the site names the callee (`<expression>.name(...)` or a global `name(...)`:
# see Agent._site_names), so that a site which calls different things (`table[key](x)`,
# `self.convert(x)` holding str.upper) is never mistaken for one that calls a quiet method.
# Quiet: methods of these values (they never block and run no user code), except the methods
# named below, which consume an iterable or call the user's __format__ / __getitem__...
_VALUE_TYPES = (str, bytes, int, float, complex, bool)
_MAY_CALL_BACK = frozenset(("join", "format", "format_map", "translate"))
# ...these methods of asyncio's Task (field access; not `result`, `done`...: a site calling
# `fut.result()` may get a concurrent.futures.Future, whose result() blocks)...
_TASK_QUERIES = frozenset(("get_name", "set_name", "get_coro", "get_loop"))
# ...and these asyncio coroutine functions: a call only creates the coroutine, and their bodies
# (run by the await) neither block nor run user code. Not among them: create_subprocess_exec
# (it forks), create_connection (it calls the protocol factory), Queue.get/put (a subclass's
# _get/_put hooks run), Condition.wait (its lock may be the user's).
_QUIET_COROUTINES = (
    "StreamReader.read", "StreamReader.readline", "StreamReader.readuntil",
    "StreamReader.readexactly", "StreamWriter.drain", "sleep", "Lock.acquire", "Event.wait",
    "Semaphore.acquire",
)  # fmt: skip
# Standard-library coroutines every await of which is on another coroutine: their frames only
# ever pass an inner frame's yield on, so they get no events at all (the innermost frame, e.g.
# StreamReader._wait_for_data, tells what the task waits on).
_ALWAYS_OUTER = frozenset(
    ("StreamReader.read", "StreamReader.readline", "StreamReader.readuntil",
     "StreamReader.readexactly", "StreamWriter.drain")
)  # fmt: skip

# A thread's state, one list per thread, held by a thread-local (a new thread that reuses a
# finished thread's ident starts afresh):
_T_TID = 0  # native thread id
_T_CALL_TS, _T_CALL_CODE, _T_CALL_OFFSET = 1, 2, 3  # the last CALL, not yet written (code: None)
_T_LIB_YIELD = 4  # id() of what the thread's last stdlib-coroutine YIELD yielded, or None
_T_SKIP_END = 5  # True inside a Handle._run whose start was left out

_agent = None  # the one Agent of this process


def start(setup_start=None):
    """Start recording if SYSCORR_AGENT_DIR is set. Never raises; returns the Agent or None."""
    global _agent
    if _agent is not None or sys.version_info < (3, 12):
        return _agent
    directory = os.environ.get("SYSCORR_AGENT_DIR")
    if not directory:
        return None
    try:
        agent = Agent(directory, os.environ)
        agent.start(setup_start)
        _agent = agent
    except Exception:
        pass  # no log to report to: the target must run as if we were not here
    return _agent


def _syscall_probe_ns(calls=15):
    """What one cheap syscall that every preset records (close(-1): EBADF, no side effect)
    costs in this process, median of `calls`: under a tracer, nearly all of it is the
    tracer's stop. Run inside the setup window, so the probes are dropped from the trace."""
    times = []
    clock = time.perf_counter_ns
    for _ in range(calls):
        start = clock()
        try:
            os.close(-1)
        except OSError:
            pass
        times.append(clock() - start)
    times.sort()
    return times[len(times) // 2]


def _callable_name(callback):
    """A callback's qualified name, read only where that runs no user code: a function, a
    (builtin) method, a class, a partial of one of those; otherwise its type's name."""
    kind = type(callback)
    if kind is _FunctionType:
        return callback.__qualname__
    if kind is _BuiltinMethodType:  # its __qualname__ would ask the bound object's class
        owner = callback.__self__
        if owner is None or type(owner) is _ModuleType:
            return callback.__name__
        return _type_qualname(type(owner)) + "." + callback.__name__
    if issubclass(kind, type):
        return _type_qualname(callback)
    if kind is _MethodType:
        return _callable_name(callback.__func__)
    if kind is functools.partial:
        return "partial(" + _callable_name(callback.func) + ")"
    if _type_name(kind) == "TaskStepMethWrapper":
        return "Task.__step"
    return _type_qualname(kind)


def _describe(exc):
    """One-paragraph error text with the agent frames that raised it (no traceback import)."""
    where = []
    tb = exc.__traceback__
    while tb is not None:
        where.append(f"{tb.tb_frame.f_code.co_name}:{tb.tb_lineno}")
        tb = tb.tb_next
    return f"{type(exc).__name__}: {exc} (at {' > '.join(where)})"


class Agent:
    def __init__(self, directory, environ):
        self.directory = directory
        self.clock_name = "monotonic" if environ.get("SYSCORR_CLOCK") == "monotonic" else "realtime"
        self.clock = time.monotonic_ns if self.clock_name == "monotonic" else time.time_ns
        self.call_sites = environ.get("SYSCORR_CALL_SITES", "1") != "0"
        self.stdlib_frames = environ.get("SYSCORR_STDLIB_FRAMES") == "1"
        # CALL events are written only before a pause longer than this (0: every call)
        gap = environ.get("SYSCORR_CALL_GAP_NS", "")
        self.call_gap_ns = int(gap) if gap.isdigit() else DEFAULT_CALL_GAP_NS
        self.debug_enabled = environ.get("SYSCORR_AGENT_DEBUG") == "1"
        self.fail_after = int(environ.get("SYSCORR_AGENT_TEST_FAIL_AFTER", "0") or 0)
        self.tool = None
        self.writer = None
        self.failed = False
        # id(code) -> (code id, role, weak reference to the code): keyed by id() because hashing
        # a code object hashes its constants (microseconds for a big function)
        self._codes = {}
        self._names = {}  # callback name -> name id
        self._next_code_id = itertools.count(1).__next__  # atomic: threads classify at once
        self._next_name_id = itertools.count(1).__next__
        self._local = _thread._local()  # .state: this thread's state (the _T_* indexes)
        self._task_names = {}  # id(task) -> last recorded name
        # Handle._run's code and the offset of its `self._context.run(callback)` call (learnt
        # from its first CALL event: the other calls are on the exception path)
        self._handle_run = [None, None]
        self._step_wrapper = [None]  # the C Task's step wrapper type, once seen
        self._task_types = ()  # asyncio's Task classes, once asyncio is imported
        self._quiet_functions = set()  # asyncio coroutine functions of _QUIET_COROUTINES
        self._loud_sites = set()  # (id(code), offset) of call sites found not quiet
        self._starts = {}  # id(code) -> (line, column) where each code unit's source starts
        # method -> name id of the callbacks that are methods (a class's functions live on)
        self._callback_names = {}
        # [_get_running_loop, current_task, Task, Task.get_name, Task.get_coro] once asyncio is
        # imported (Task's own methods: a subclass's overrides never run)
        self._asyncio_api = [self._loop_before_asyncio, None, None, None, None]
        self._task_methods = []  # (Task class, its get_coro, its get_name)
        self._py_step_functions = ()  # the pure-Python Task's __step and __wakeup
        self._main_ident = _thread.get_ident()  # sitecustomize runs on the main thread

    # ---- lifecycle ----

    def start(self, setup_start=None):
        setup_start = self.clock() if setup_start is None else setup_start
        self._open_log()
        self._debug(f"agent starting, log {self.writer.path}")
        self.tool = self._claim_tool_id()
        if self.tool is not None:
            self._register()
        self.probe_ns = _syscall_probe_ns()
        self._write_meta(setup_start)
        atexit.register(self.finish)
        os.register_at_fork(after_in_child=self._after_fork_in_child)

    def _open_log(self):
        self.writer = LogWriter.create(self.directory, os.getpid())
        self._write = self.writer.write  # one whole record; ValueError: use append_slow
        if self.fail_after > 0:
            self._write = self._failing_write(self.writer.write, self.fail_after)

    def _failing_write(self, write, limit):
        count = [0]

        def failing_write(data):
            count[0] += 1
            if count[0] > limit:
                raise RuntimeError(f"SYSCORR_AGENT_TEST_FAIL_AFTER={limit} reached")
            return write(data)

        return failing_write

    def _event(self, kind, tid, ts, task, code, offset):
        """Append one event record (the callbacks' hot paths inline this)."""
        data = pack_event(kind, 0, 0, tid, ts, task, code, offset)
        try:
            self._write(data)
        except ValueError:
            self.writer.append_slow(data)

    def _claim_tool_id(self):
        mon = sys.monitoring
        for tool in TOOL_ID_PREFERENCE:
            try:
                mon.use_tool_id(tool, TOOL_NAME)
                return tool
            except ValueError:
                continue
        holders = ", ".join(f"{t}={mon.get_tool(t)}" for t in TOOL_ID_PREFERENCE)
        message = f"no free sys.monitoring tool id (in use: {holders}): this process runs untraced"
        self.writer.error(self.clock(), message)
        self._debug(message)
        return None

    def _register(self):
        ev = sys.monitoring.events
        self._local_coro = ev.PY_RESUME | ev.PY_YIELD | ev.PY_RETURN
        if self.call_sites:
            self._local_coro |= ev.CALL
        self._register_callbacks()
        sys.monitoring.set_events(self.tool, ev.PY_START | ev.PY_THROW | ev.PY_UNWIND)

    def _register_callbacks(self):
        callbacks = self._make_callbacks()
        for event in self._all_events():
            sys.monitoring.register_callback(self.tool, event, callbacks[event])

    def _write_meta(self, setup_start, **extra):
        meta = {
            "pid": os.getpid(),
            "ppid": os.getppid(),
            "python": sys.version,
            "python_version": list(sys.version_info[:3]),
            "implementation": sys.implementation.name,
            "executable": sys.executable,
            "argv": list(getattr(sys, "argv", [])),
            "orig_argv": list(getattr(sys, "orig_argv", [])),
            "clock": self.clock_name,
            "tool_id": self.tool,
            "call_sites": self.call_sites,
            "call_gap_ns": self.call_gap_ns,
            "stdlib_frames": self.stdlib_frames,
            "stdlib_dir": _STDLIB_DIR,
            "probe_close_ns": self.probe_ns,
            "main_tid": self._tid(),
            "start_realtime_ns": time.time_ns(),
            "start_monotonic_ns": time.monotonic_ns(),
            "agent_start_ns": setup_start,
            "setup_start_ns": setup_start,
        }
        meta.update(extra)
        meta["setup_end_ns"] = self.clock()
        self.writer.meta(meta)

    def finish(self):
        """atexit: write the end record, stop monitoring, truncate the log to its used size."""
        try:
            teardown = self.clock()
            self._stop_monitoring()
            self.writer.meta(
                {
                    "end_realtime_ns": time.time_ns(),
                    "end_monotonic_ns": time.monotonic_ns(),
                    "teardown_start_ns": teardown,
                    "failed": self.failed,
                    **self._log_losses(),
                },
                rtype=REC_END,
            )
            self._debug("agent finished")
            self.writer.close(truncate=True)
        except Exception:
            pass

    def _log_losses(self):
        """What the end record says of a log that stopped or lost its descriptor."""
        writer, losses = self.writer, {}
        if writer.stopped is not None:
            losses["log_stopped"] = writer.stopped
            losses["lost_events"] = writer.lost_events
            losses["lost_records"] = writer.lost_records
        if not writer.owns_fd():
            losses["log_fd_lost"] = True  # closed or reused by the program: left alone
        return losses

    def _after_fork_in_child(self):
        """A forked child shares the parent's mapping: switch to a log of its own."""
        try:
            setup_start = self.clock()
            parent = self.writer.pid
            self.writer.abandon()
            old_state = getattr(self._local, "state", None)  # the thread that forked
            self._local = _thread._local()
            self._task_names.clear()
            self._open_log()
            if old_state is not None:  # a new native id; inside a left-out handle still
                self._new_thread()[_T_SKIP_END] = old_state[_T_SKIP_END]
            for code_id, _role, code_ref in list(self._codes.values()):
                code = code_ref()
                if code is not None:
                    self.writer.code(code_id, code)
            for name, name_id in self._names.items():
                self.writer.name(name_id, name)
            if self.tool is not None:
                self._register_callbacks()  # the callbacks hold the writer: use the new one
            self._write_meta(setup_start, forked_from=parent)
            self._debug(f"forked from {parent}")
        except Exception as exc:
            self.failed = True
            self._stop_monitoring()
            self._debug(f"fork handling failed: {_describe(exc)}")

    def _fail(self, exc):
        """An internal error: stop observing, record why, and let the target carry on."""
        if self.failed:
            return
        self.failed = True
        self._stop_monitoring()
        try:
            ts = self.clock()
            text = "syscorr agent disabled after an internal error: " + _describe(exc)
            self.writer.event(AGENT_ERROR, self._tid(), ts, 0, 0, 0)
            self.writer.error(ts, text)
            self._debug(text)
        except Exception:
            pass

    def _stop_monitoring(self):
        tool, self.tool = self.tool, None
        if tool is None:
            return
        mon = sys.monitoring
        for step in (
            lambda: mon.set_events(tool, 0),
            lambda: [
                mon.set_local_events(tool, info[2](), 0)
                for info in list(self._codes.values())
                if info[2]() is not None
            ],
            lambda: [mon.register_callback(tool, e, None) for e in self._all_events()],
            lambda: mon.free_tool_id(tool),
        ):
            try:
                step()
            except Exception:
                pass

    @staticmethod
    def _all_events():
        ev = sys.monitoring.events
        return (ev.PY_START, ev.PY_RESUME, ev.PY_YIELD, ev.PY_RETURN, ev.PY_THROW, ev.PY_UNWIND) + (
            ev.CALL,
        )

    def _debug(self, message):
        if not self.debug_enabled:
            return
        try:
            path = os.path.join(self.directory, f"agent-{os.getpid()}.debug")
            with open(path, "a") as f:
                f.write(f"{self.clock()} {message}\n")
        except Exception:
            pass

    # ---- what an event is recorded with ----

    def _new_thread(self):
        """First event of a thread: cache its native id (a gettid syscall), record its name, and
        return its state (see _T_TID and below)."""
        ident = _thread.get_ident()
        tid = _thread.get_native_id()
        state = self._local.state = [tid, 0, None, 0, None, False]
        threading = sys.modules.get("threading")
        thread = getattr(threading, "_active", {}).get(ident)
        try:  # the attribute behind Thread.name: a subclass's property never runs
            name = str(object.__getattribute__(thread, "_name")) if thread is not None else None
        except Exception:
            name = None
        if name is None:
            name = "MainThread" if ident == self._main_ident else f"thread-{tid}"
        self.writer.thread(tid, name)
        return state

    def _state(self):
        return getattr(self._local, "state", None) or self._new_thread()

    def _tid(self):
        return self._state()[_T_TID]

    def _loop_before_asyncio(self):
        if self._resolve_asyncio():
            return self._asyncio_api[0]()
        return None

    def _resolve_asyncio(self):
        """Bind asyncio's task lookup once asyncio is fully imported (never import it ourselves)."""
        asyncio = sys.modules.get("asyncio")
        if getattr(asyncio, "run", None) is None:
            return False
        self._task_types = tuple(
            t for t in (asyncio.Task, getattr(asyncio.tasks, "_PyTask", None)) if t is not None
        )
        for qualname in _QUIET_COROUTINES:
            owner_name, _, name = qualname.rpartition(".")
            owner = getattr(asyncio, owner_name, None) if owner_name else asyncio
            function = getattr(owner, name, None)
            if type(function) is _FunctionType:
                self._quiet_functions.add(function)
        self._task_methods = [(t, t.get_coro, t.get_name) for t in self._task_types]
        py_task = getattr(asyncio.tasks, "_PyTask", None)
        self._py_step_functions = tuple(
            f
            for f in (
                getattr(py_task, "_Task__step", None),
                getattr(py_task, "_Task__wakeup", None),
            )
            if type(f) is _FunctionType
        )
        self._asyncio_api[:] = [
            asyncio.events._get_running_loop,
            asyncio.current_task,
            asyncio.Task,
            asyncio.Task.get_name,
            asyncio.Task.get_coro,
        ]
        self._debug("asyncio resolved")
        return True

    def _task_method(self, task, index):
        """asyncio's own get_coro (index 1) or get_name (2) for `task`, a Task or a subclass:
        a subclass's override never runs."""
        for methods in self._task_methods:
            if issubclass(type(task), methods[0]):
                return methods[index]
        raise TypeError(f"not an asyncio Task: {_type_qualname(type(task))}")

    def _record_task_name(self, task, ts):
        name = self._task_method(task, 2)(task)
        if self._task_names.get(id(task)) != name:
            self._task_names[id(task)] = name
            self.writer.task_name(id(task), ts, name)

    def _classify(self, code):
        """First PY_START of a code object: decide its role (None means not ours: DISABLE)."""
        if code.co_flags & COROUTINE_FLAGS:
            filename = code.co_filename
            stdlib = filename.startswith(_STDLIB_DIR) and not any(
                part in filename for part in _INSTALLED_DIRS
            )
            if self.stdlib_frames or not stdlib:
                role = _CORO
                sys.monitoring.set_local_events(self.tool, code, self._local_coro)
            else:
                role = _LIB_CORO
                outer = code.co_qualname in _ALWAYS_OUTER and "asyncio" in code.co_filename
                events = 0 if outer else sys.monitoring.events.PY_YIELD
                sys.monitoring.set_local_events(self.tool, code, events)
        elif code.co_qualname == _HANDLE_RUN and code.co_filename.endswith(
            _ASYNCIO_DIR + "events.py"
        ):
            role = _HANDLE_RUN
            ev = sys.monitoring.events
            sys.monitoring.set_local_events(self.tool, code, ev.CALL | ev.PY_RETURN)
            self._handle_run[0] = code
        elif code.co_qualname == _RUN_ONCE and code.co_filename.endswith(
            _ASYNCIO_DIR + "base_events.py"
        ):
            role = _RUN_ONCE
        elif code.co_qualname == _WORK_INIT and code.co_filename.endswith(_EXECUTOR_FILE):
            role = _WORK_INIT
        elif code.co_qualname == _WORK_RUN and code.co_filename.endswith(_EXECUTOR_FILE):
            role = _WORK_RUN
            sys.monitoring.set_local_events(self.tool, code, sys.monitoring.events.PY_RETURN)
        else:
            return None
        # a weak reference: code compiled at run time (exec, templates) may die; its entry goes
        # with it, so its id() is never mistaken for a later code object's
        key, codes, starts = id(code), self._codes, self._starts

        def forget(_ref):
            codes.pop(key, None)
            starts.pop(key, None)

        info = (self._next_code_id(), role, _weakref.ref(code, forget))
        self._codes[id(code)] = info
        self.writer.code(info[0], code)
        if role != _CORO and role != _LIB_CORO and self._task_types == ():
            self._resolve_asyncio()
        return info

    def _bound_task(self, callback):
        """The Task whose step `callback` runs (the C Task's step wrapper or task_wakeup, the
        pure-Python Task's __step or __wakeup), else None. Any other method of a Task is an
        ordinary callback. `__self__` is read only from types where that runs no user code."""
        kind = type(callback)
        if kind is _BuiltinMethodType:
            if callback.__name__ != "task_wakeup":
                return None
        elif kind is _MethodType:
            function = callback.__func__
            if not any(function is step for step in self._py_step_functions):
                return None
        elif kind is not self._step_wrapper[0]:
            if _type_name(kind) != "TaskStepMethWrapper" or not self._task_types:
                return None
            if _type_module(kind) != "_asyncio":  # a class of the user's with that name
                return None
            self._step_wrapper[0] = kind
        owner = callback.__self__
        return owner if issubclass(type(owner), self._task_types) else None

    def _quiet_callee(self, code, offset, callee, kind):
        """Whether a call site can be disabled: its callee never blocks and runs no user code
        (see _VALUE_TYPES), and the site names it (see _site_names)."""
        if kind is _FunctionType:
            quiet = callee in self._quiet_functions
        else:
            owner = callee.__objclass__ if kind is _MethodDescriptorType else type(callee.__self__)
            name = callee.__name__
            if any(owner is value_type for value_type in _VALUE_TYPES):
                quiet = name not in _MAY_CALL_BACK
            else:
                task_types = self._task_types
                quiet = bool(task_types) and owner is task_types[0] and name in _TASK_QUERIES
        if quiet and self._site_names(code, offset, callee.__name__):
            return True
        if len(self._loud_sites) >= 1 << 16:
            self._loud_sites.clear()
        self._loud_sites.add((id(code), offset))  # coroutine code: kept alive by _codes
        return False

    def _site_names(self, code, offset, name):
        """Whether the call at `offset` calls `<expression>.name(...)` or the global
        `name(...)`: the instruction that made the callee is a LOAD_ATTR or LOAD_GLOBAL of
        that name (found as the last one before the call whose source starts where the call
        starts). Anything else (a subscript, a local, a call's result) may hold a different
        callee next time. Reads asyncio's already imported `opcode` module; without it, no."""
        opcode = sys.modules.get("opcode")
        if opcode is None or offset % 2:
            return False
        opmap = opcode.opmap
        # not the callee: caches, prefixes, keyword names, the NULL pushed after an attribute
        skip = tuple(
            opmap.get(name, 0)
            for name in ("CACHE", "EXTENDED_ARG", "KW_NAMES", "PUSH_NULL", "LOAD_CONST")
        )
        loads = (opmap.get("LOAD_ATTR"), opmap.get("LOAD_GLOBAL"))
        unit = offset // 2
        positions = self._starts.get(id(code))  # read once per code: sites are many
        if positions is None:
            if len(self._starts) >= 64:
                self._starts.clear()
            positions = self._starts[id(code)] = [(p[0], p[2]) for p in code.co_positions()]
        if len(positions) <= unit or None in positions[unit]:
            return False
        start = positions[unit]
        raw = code.co_code
        for i in range(unit - 1, -1, -1):
            op = raw[2 * i]
            if op in skip or positions[i] != start:
                continue
            if op not in loads:
                return False
            arg, j = raw[2 * i + 1], i - 1
            while j >= 0 and raw[2 * j] == opmap.get("EXTENDED_ARG"):
                arg |= raw[2 * j + 1] << (8 * (i - j))
                j -= 1
            names = code.co_names
            return (arg >> 1) < len(names) and names[arg >> 1] == name
        return False

    def _task_step_is_told(self, task):
        """Whether a step of `task` shows in its own coroutine's events, so that the handle
        running it can be left out: yes unless its coroutine is asyncio's own (recorded only by
        its YIELDs) or not a coroutine object (then the handle is all that shows its steps)."""
        coro = self._task_method(task, 1)(task)
        if type(coro) is not _CoroutineType:
            return False
        info = self._codes.get(id(coro.cr_code)) or self._classify(coro.cr_code)
        return info is not None and info[1] is not _LIB_CORO

    def _callback_start(self, callback, task, state):
        """Handle._run is about to call `callback` (bound to `task` when it is a Task's) on the
        thread whose state is `state`."""
        name = _callable_name(callback)
        name_id = self._names.get(name)
        if name_id is None:
            name_id = self._names[name] = self._next_name_id()
            self.writer.name(name_id, name)
        if task is None and type(callback) is _MethodType:
            function = callback.__func__
            if type(function) is _FunctionType:  # next time on_call names it from its code
                if len(self._callback_names) >= 4096:
                    self._callback_names.clear()
                self._callback_names[function.__code__] = name_id
        ts = self.clock()
        tid = state[_T_TID]
        if task is not None:
            self._event(CALLBACK_START, tid, ts, id(task), name_id, 0)
            self._record_task_name(task, ts)
        else:
            self._event(CALLBACK_START, tid, ts, 0, name_id, 0)

    def _work_event(self, role, frame):
        """An executor work item: created (by the task awaiting it) or started in a worker.
        WORK_SUBMIT carries the submitting task in `task` and id(work item) split over `code`
        (high 32 bits) and `offset` (low); WORK_START/WORK_END carry id(work item) in `task`."""
        work = id(frame.f_locals.get("self"))
        ts = self.clock()
        if role is _WORK_RUN:
            self._event(WORK_START, self._tid(), ts, work, 0, 0)
            return
        get_loop, current_task = self._asyncio_api[:2]
        loop = get_loop() if current_task is not None else None
        task = current_task(loop) if loop is not None else None
        if task is not None:
            self._event(WORK_SUBMIT, self._tid(), ts, id(task), work >> 32, work & 0xFFFFFFFF)

    def _make_callbacks(self):
        """The sys.monitoring callbacks, as closures over what they use: the per-event cost is
        dominated by Python calls and lookups, so the hot paths avoid both where they can (the
        frequent local events are `functools.partial(record, KIND)`: no Python frame of their
        own; records are appended inline; a thread's state is one list). Each callback catches
        every Exception and disables the agent; BaseExceptions such as a KeyboardInterrupt from
        the target's own signal handler pass through untouched.

        CALL events are frequent; only the call a long pause follows matters (it names the line
        of a blocking call), so each thread's last call waits in its state and is written only
        when the thread's next event comes more than `gap` ns after it. After a stdlib
        coroutine's YIELD, the outer library frames of the same await chain yield the same
        object next: only the innermost YIELD is written."""
        ev = sys.monitoring.events
        agent, clock, event, fail = self, self.clock, self._event, self._fail
        write, append_slow, pack = self._write, self.writer.append_slow, pack_event
        local, new_thread = self._local, self._new_thread
        codes, codes_get, task_names_get = self._codes, self._codes.get, self._task_names.get
        asyncio_api, disable = self._asyncio_api, sys.monitoring.DISABLE
        handle_run = self._handle_run  # [Handle._run's code, offset of its callback call]
        gap = self.call_gap_ns
        quiet_functions, callback_names_get = self._quiet_functions, self._callback_names.get
        step_wrapper = self._step_wrapper
        loud_sites = self._loud_sites

        def flush(state, now):
            """Write the thread's pending call; flags and reserved hold how long the pause
            after it lasted (µs, 24 bits, saturated): the call's span."""
            loop = asyncio_api[0]()
            task = asyncio_api[1](loop) if loop is not None else None
            code_id = codes[id(state[_T_CALL_CODE])][0]
            task_id = 0 if task is None else id(task)
            ts, offset = state[_T_CALL_TS], state[_T_CALL_OFFSET]
            span = min((now - ts) // 1000, 0xFFFFFF)
            tid = state[_T_TID]
            data = pack(CALL, span >> 16, span & 0xFFFF, tid, ts, task_id, code_id, offset)
            try:
                write(data)
            except ValueError:
                append_slow(data)

        def on_handle_call(offset, callback):
            """Handle._run calls its callback (or, on its exception path, something else). The
            handle that runs a step of a Task is left out (the task's own coroutine events tell
            that step, and it would cost two records per step); its end is then skipped too."""
            if offset != handle_run[1]:
                if handle_run[1] is not None:
                    return disable
                handle_run[1] = offset  # Handle._run's first call is the callback's
            try:
                state = local.state
            except AttributeError:
                state = new_thread()
            state[_T_LIB_YIELD] = None
            kind = type(callback)
            if kind is step_wrapper[0] or (
                kind is _BuiltinMethodType and callback.__name__ == "task_wakeup"
            ):
                task = callback.__self__  # the usual case, a C Task's step: decided inline
                if type(task) is asyncio_api[2]:
                    coro = asyncio_api[4](task)
                    if type(coro) is _CoroutineType:
                        info = codes_get(id(coro.cr_code))
                        if info is not None and info[1] is _CORO:
                            state[_T_SKIP_END] = True
                            return
            elif kind is _MethodType:
                # a method: named from a cache (a Task's step methods are never in it)
                function = callback.__func__
                if type(function) is _FunctionType:
                    name_id = callback_names_get(function.__code__)
                    if name_id is not None:
                        data = pack(CALLBACK_START, 0, 0, state[_T_TID], clock(), 0, name_id, 0)
                        try:
                            write(data)
                        except ValueError:
                            append_slow(data)
                        return
            task = agent._bound_task(callback)
            if task is None:
                agent._callback_start(callback, None, state)
            elif agent._task_step_is_told(task):
                state[_T_SKIP_END] = True
            else:
                agent._callback_start(callback, task, state)

        def on_call(code, offset, callee, arg0):
            try:
                if code is handle_run[0]:
                    return on_handle_call(offset, arg0)
                kind = type(callee)
                if kind is _FunctionType:
                    if callee in quiet_functions and (id(code), offset) not in loud_sites:
                        if agent._quiet_callee(code, offset, callee, kind):
                            return disable
                elif kind is _MethodDescriptorType or kind is _BuiltinMethodType:
                    if (id(code), offset) not in loud_sites:
                        if agent._quiet_callee(code, offset, callee, kind):
                            return disable
                if gap == 0:
                    return record(CALL, code, offset)
                ts = clock()
                try:
                    state = local.state
                except AttributeError:
                    state = new_thread()
                if state[_T_CALL_CODE] is not None and ts - state[_T_CALL_TS] > gap:
                    flush(state, ts)
                state[_T_CALL_TS] = ts
                state[_T_CALL_CODE] = code
                state[_T_CALL_OFFSET] = offset
            except Exception as exc:
                fail(exc)

        def record(kind, code, offset, value=None, _arg2=None):
            """A local event on a coroutine (or PY_RETURN of Handle._run or _WorkItem.run:
            CALLBACK_END, WORK_END). `value`: what a YIELD yields."""
            try:
                code_id, role, _ = codes[id(code)]
                try:
                    state = local.state
                except AttributeError:
                    state = new_thread()
                if role is _LIB_CORO:
                    if state[_T_LIB_YIELD] == id(value):
                        return  # an outer frame passing an inner frame's yield on
                    state[_T_LIB_YIELD] = id(value)
                elif kind == PY_YIELD and role is _CORO:
                    state[_T_LIB_YIELD] = id(value)  # library frames around it pass it on
                else:
                    state[_T_LIB_YIELD] = None
                ts = clock()
                if state[_T_CALL_CODE] is not None:
                    if ts - state[_T_CALL_TS] > gap:
                        flush(state, ts)
                    state[_T_CALL_CODE] = None
                if role is _CORO:
                    loop = asyncio_api[0]()
                    task = asyncio_api[1](loop) if loop is not None else None
                    task_id = 0 if task is None else id(task)
                    data = pack(kind, 0, 0, state[_T_TID], ts, task_id, code_id, offset)
                    try:
                        write(data)
                    except ValueError:
                        append_slow(data)
                    # A name can change during a step (set_name): look again as steps end.
                    if task_id:
                        name = task_names_get(task_id)
                        if name is None:
                            agent._record_task_name(task, ts)
                        elif kind != PY_RESUME:
                            if type(task) is asyncio_api[2]:
                                if name != asyncio_api[3](task):
                                    agent._record_task_name(task, ts)
                            else:
                                agent._record_task_name(task, ts)
                    return
                if role is _LIB_CORO:
                    data = pack(PY_YIELD, 0, 0, state[_T_TID], ts, 0, code_id, offset)
                else:
                    end = CALLBACK_END if role is _HANDLE_RUN else WORK_END
                    data = pack(end, 0, 0, state[_T_TID], ts, 0, code_id, offset)
                try:
                    write(data)
                except ValueError:
                    append_slow(data)
            except Exception as exc:
                fail(exc)

        def on_return(code, offset, _value):
            if code is handle_run[0]:
                try:
                    state = getattr(local, "state", None)
                    if state is not None and state[_T_SKIP_END]:
                        state[_T_SKIP_END] = False  # the end of a handle whose start was left out
                        return
                except Exception as exc:
                    fail(exc)
            return record(PY_RETURN, code, offset)

        def on_start(code, offset):
            try:
                info = codes_get(id(code))
                if info is None:
                    info = agent._classify(code)
                    if info is None:
                        return disable
                if info[1] is _CORO:
                    record(PY_START, code, offset)
                    return
                if info[1] is _LIB_CORO or info[1] is _HANDLE_RUN:
                    return disable  # their local events tell the rest
                state = agent._state()
                state[_T_LIB_YIELD] = None
                if info[1] is _WORK_INIT or info[1] is _WORK_RUN:
                    agent._work_event(info[1], sys._getframe(1))
                else:
                    event(LOOP_ITERATION, state[_T_TID], clock(), 0, info[0], offset)
            except Exception as exc:
                fail(exc)

        def on_throw_or_unwind(kind, code, offset, exc_value):
            """Global events: every code object comes here, so others leave as early as possible.
            Never returns DISABLE (that would raise for PY_UNWIND)."""
            try:
                info = codes_get(id(code))
                if info is None:
                    return
                if info[1] is _CORO:
                    record(kind, code, offset)
                elif info[1] is _HANDLE_RUN and kind == PY_UNWIND:
                    state = agent._state()
                    if state[_T_SKIP_END]:
                        state[_T_SKIP_END] = False  # a handle whose start was left out
                    else:
                        record(CALLBACK_END, code, offset)
            except Exception as exc:
                fail(exc)

        return {
            ev.PY_START: on_start,
            ev.PY_RESUME: functools.partial(record, PY_RESUME),
            ev.PY_YIELD: functools.partial(record, PY_YIELD),
            ev.CALL: on_call,
            ev.PY_RETURN: on_return,
            ev.PY_THROW: functools.partial(on_throw_or_unwind, PY_THROW),
            ev.PY_UNWIND: functools.partial(on_throw_or_unwind, PY_UNWIND),
        }

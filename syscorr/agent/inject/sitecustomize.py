# syscorr's sitecustomize: start the agent, then hand over to the user's own sitecustomize.
#
# Contract: the runner puts this directory first on PYTHONPATH. When SYSCORR_AGENT_DIR is set and
# the interpreter is 3.12+, `_syscorr_agent.start()` begins recording (it never raises). Then the
# next `sitecustomize` on sys.path after this directory, if any, is executed as module
# `sitecustomize` (and replaces this one in sys.modules); its errors propagate to site.py exactly
# as they would without syscorr. Standard library only; valid syntax for Python 3.8+.

import os as _os
import sys as _sys


def _syscorr_start_agent():
    if not _os.environ.get("SYSCORR_AGENT_DIR") or _sys.version_info < (3, 12):
        return
    import time

    setup_start = (
        time.monotonic_ns() if _os.environ.get("SYSCORR_CLOCK") == "monotonic" else time.time_ns()
    )
    try:
        import _syscorr_agent

        _syscorr_agent.start(setup_start)
    except Exception:
        pass  # the agent could not even load: the target runs untraced and undisturbed


def _syscorr_chain_to_next_sitecustomize():
    here = _os.path.dirname(_os.path.abspath(__file__))
    normalized = [_os.path.abspath(p or _os.curdir) for p in _sys.path]
    after = normalized.index(here) + 1 if here in normalized else 0
    rest = [p for p, n in zip(_sys.path[after:], normalized[after:]) if n != here]  # noqa: B905 (3.8)
    import importlib.machinery
    import importlib.util

    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    _sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


_syscorr_start_agent()
_syscorr_chain_to_next_sitecustomize()

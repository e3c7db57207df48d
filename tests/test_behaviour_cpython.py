"""Behaviour preservation on CPython's own asyncio tests: the quick subset of
scripts/compare_cpython_tests.py (the full comparison, every test_asyncio module, is run by
hand). Each test's outcome and the exit status must be the same with and without
`syscorr run`."""

import importlib.util
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "compare_cpython_tests.py"
sys.path.insert(0, str(SCRIPT.parent))  # the scripts import their shared helpers by name
spec = importlib.util.spec_from_file_location("compare_cpython_tests", SCRIPT)
compare = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compare)


@pytest.mark.parametrize("module", compare.QUICK)
def test_cpython_asyncio_tests_behave_the_same_under_syscorr(tmp_path, module):
    python = compare.asyncio_test_python()
    result = compare.compare_module(python, module, tmp_path, timeout=600)
    assert result["tests"] >= 30, result["plain"]
    assert result["differ"] == [], [
        (t, result["plain"].get(t), result["traced"].get(t)) for t in result["differ"]
    ]
    assert result["status"][0] == result["status"][1] == 0

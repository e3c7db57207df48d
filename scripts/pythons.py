"""Find a Python 3.12+ interpreter for the scripts (the machine's default python3 may be older).

Contract: `find_python(script, given=None, needs="")` returns the first interpreter, in order:
`given` (a --python option), pyenv's versions (sorted), python3.12+ on PATH, python3, the one
running the script, that is 3.12 or newer and runs `needs` (extra code it must run, e.g.
`import test.test_asyncio`); otherwise it exits naming the script and the fix. Used by the
scripts in this directory (they import it as `pythons`: a script's own directory is first on
sys.path).
"""

import glob
import os
import shutil
import subprocess
import sys


def find_python(script: str, given: str | None = None, needs: str = "") -> str:
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates = [given] if given else []
    candidates += sorted(glob.glob(os.path.join(root, "versions", "3.*", "bin", "python3")))
    candidates += [shutil.which(f"python3.{minor}") for minor in range(12, 20)]
    candidates += [shutil.which("python3"), sys.executable]
    code = f"import sys\nif sys.version_info < (3, 12): sys.exit(1)\n{needs}"
    for path in dict.fromkeys(filter(None, candidates)):
        if subprocess.run([path, "-c", code], capture_output=True).returncode == 0:
            return path
    what = f"Python 3.12+ that can run `{needs}`" if needs else "Python 3.12+"
    raise SystemExit(f"{script}: no {what} found (pyenv or PATH): pass --python")

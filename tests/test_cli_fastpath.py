"""`syscorr run`'s fast parser makes of every line it takes exactly what typer makes of it, and
leaves every other line to typer; the entry point uses it, so a plain `syscorr run` imports
neither typer nor pydantic nor rich."""

import subprocess
import sys

import pytest
import typer

from syscorr.cli import run_command
from syscorr.cli.app import app
from syscorr.cli.run_fastpath import _FLAGS, _VALUED, parse
from tests.conftest import ROOT

TAKEN = [
    ["app.py"],
    ["app.py", "--port", "8080", "-q"],
    ["--", "python3", "-m", "pkg", "serve"],
    ["-o", "trace1", "--", "pytest", "tests/"],
    ["-q", "--backend", "ebpf", "-o", "/tmp/t x", "--", "python", "echo.py", "--quiet"],
    ["--backend=strace", "--output=out", "app.py"],
    ["-b", "ebpf", "--ebpf-buffer-mb", "64", "app.py"],
    ["--ebpf-buffer-mb=1024", "app.py"],
    ["-s", "0", "app.py"],
    ["--string-limit", "1048576", "app.py"],
    ["-e", "network", "app.py"],
    ["--syscalls", "epoll_wait,sendto", "app.py"],
    ["--no-seccomp", "--seccomp", "--no-seccomp", "app.py"],
    ["--no-call-sites", "app.py"],
    ["--call-sites", "app.py"],
    ["--wait", "children", "app.py"],
    ["--wait", "sometimes", "app.py"],  # run_command refuses it, as before
    ["--timeout", "2", "app.py"],
    ["--timeout", "0.5", "--timeout", "10.25", "app.py"],
    ["--timeout=0.001", "app.py"],
    ["-o", "a", "-o", "b", "app.py"],
    ["--quiet", "--", "--", "x"],
    ["--", "app.py", "--", "-q"],
    ["app.py", "--help"],
    ["app.py", "-o", "x"],
    ["./script", "-q"],
    ["--ebpf-buffer-mb", "12", "app.py"],  # run_command refuses it, as before
]
DECLINED = [
    [],
    ["-q"],
    ["--"],
    ["-q", "--"],
    ["--help"],
    ["-h", "app.py"],
    ["--unknown", "app.py"],
    ["-qo", "dir", "app.py"],
    ["-odir", "app.py"],
    ["-o", "", "app.py"],
    ["-o", "-x", "app.py"],
    ["-o"],
    ["-s", "-1", "app.py"],
    ["-s", "1048577", "app.py"],
    ["-s", "007", "app.py"],
    ["-s", "1_000", "app.py"],
    ["-s", " 5", "app.py"],
    ["-s", "x", "app.py"],
    ["-s=5", "app.py"],
    ["--ebpf-buffer-mb", "0", "app.py"],
    ["--ebpf-buffer-mb", "2048", "app.py"],
    ["--timeout", "0", "app.py"],
    ["--timeout", "0.0001", "app.py"],
    ["--timeout", "1e3", "app.py"],
    ["--timeout", "inf", "app.py"],
    ["--timeout", "-1", "app.py"],
    ["--quiet=yes", "app.py"],
    ["-", "app.py"],
]


def typer_args(args: list[str], env: dict, monkeypatch) -> run_command.RunArgs | None:
    """What typer hands to run_command.execute for `syscorr run ARGS` (None: it refused)."""
    seen = []

    def capture(parsed):
        seen.append(parsed)
        return 0

    monkeypatch.setattr(run_command, "execute", capture)
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["run", *args], env=env)
    return seen[0] if seen and result.exit_code == 0 else None


@pytest.mark.parametrize("env", [{}, {"SYSCORR_BACKEND": "strace"}])
@pytest.mark.parametrize("args", TAKEN, ids=" ".join)
def test_a_line_the_fast_parser_takes_is_what_typer_makes_of_it(args, env, monkeypatch):
    monkeypatch.delenv("SYSCORR_BACKEND", raising=False)
    fast = parse(args, env)
    assert fast is not None, "the fast parser should take this line"
    assert fast == typer_args(args, env, monkeypatch)


@pytest.mark.parametrize("args", DECLINED, ids=" ".join)
def test_a_line_the_fast_parser_declines_goes_to_typer(args, monkeypatch):
    monkeypatch.delenv("SYSCORR_BACKEND", raising=False)
    assert parse(args, {}) is None


def test_an_empty_backend_variable_is_left_to_typer(monkeypatch):
    assert parse(["app.py"], {"SYSCORR_BACKEND": ""}) is None


def test_the_fast_parser_knows_every_option_of_run():
    command = typer.main.get_command(app).commands["run"]
    declared = set()
    for param in command.params:
        declared.update(param.opts)
        declared.update(getattr(param, "secondary_opts", []))
    declared -= {"--help"}
    known = set(_VALUED) | set(_FLAGS)
    assert {o for o in declared if o.startswith("-")} == known


def test_syscorr_run_loads_no_framework(tmp_path):
    """`python -m syscorr run` on a plain line never imports typer, pydantic or rich, nor a
    syscall-log parser (the trace is written; the target is a Python that does nothing)."""
    probe = (
        "import os, runpy, sys\n"
        "sys.argv = ['syscorr', 'run', '-q', '--backend', 'strace', '-o', sys.argv[1],"
        " '--', sys.executable, '-c', 'pass']\n"
        "heavy = ('typer', 'pydantic', 'rich', 'click')\n"
        "def leave(code, exit=os._exit):\n"
        "    print(code, sorted(m for m in sys.modules if m.split('.')[0] in heavy\n"
        "          or m.startswith('syscorr.parse.') and m != 'syscorr.parse.vocabulary'))\n"
        "    sys.stdout.flush()\n"
        "    exit(code)\n"
        "os._exit = leave\n"
        "runpy.run_module('syscorr', run_name='__main__')\n"
    )
    out = tmp_path / "trace"
    done = subprocess.run([sys.executable, "-c", probe, str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0 []"
    assert (out / "meta.json").exists()


@pytest.mark.parametrize("args", [["--bogus", "app.py"], ["-q", "--bogus=1", "app.py"]])
def test_an_unknown_option_is_named_not_taken_for_the_program(args, tmp_path):
    """Typer passes options it does not know through as the command; before, the user read
    "'--bogus' is not a command on PATH"."""
    done = subprocess.run(
        [sys.executable, "-m", "syscorr", "run", "-o", str(tmp_path / "t"), *args],
        capture_output=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    err = done.stderr.decode()
    assert done.returncode == 2 and err.count("\n") == 1, err
    assert err.startswith(f"syscorr: error: unknown option {args[-2]!r} for syscorr run"), err
    assert "syscorr run --help" in err and not (tmp_path / "t").exists()

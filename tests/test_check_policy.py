"""Policy loading: pyproject.toml discovery, option overrides, and one-line errors."""

import pytest

from syscorr.analysis.findings import MS
from syscorr.check.policy import Policy, find_pyproject, load_policy
from syscorr.errors import UsageError


def write_pyproject(directory, body: str):
    path = directory / "pyproject.toml"
    path.write_text(body, encoding="utf-8")
    return path


def test_defaults_without_pyproject(tmp_path):
    policy = load_policy({}, start=tmp_path)
    assert (policy.max_block_ms, policy.max_step_ms, policy.forbidden) == (10.0, 100.0, ())
    assert policy.source == "defaults"


def test_table_found_in_a_parent_directory(tmp_path):
    write_pyproject(
        tmp_path,
        "[tool.syscorr]\nmax-block-ms = 5\nmax-step-ms = 50.5\n"
        'forbidden-syscalls = ["nanosleep", "connect"]\nallow-functions = ["warm*"]\n',
    )
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    assert find_pyproject(nested) == tmp_path / "pyproject.toml"
    policy = load_policy({}, start=nested)
    assert policy.max_block_ms == 5.0 and policy.max_step_ms == 50.5
    assert policy.forbidden == ("nanosleep", "connect")
    assert policy.allow_functions == ("warm*",)
    assert str(tmp_path) in policy.source
    rules = policy.rules()
    assert rules.block_ns == 5 * MS and rules.forbidden == {"nanosleep", "connect"}


def test_options_replace_limits_and_extend_lists(tmp_path):
    write_pyproject(tmp_path, '[tool.syscorr]\nmax-block-ms = 5\nforbidden-syscalls = ["read"]\n')
    policy = load_policy(
        {"max-block-ms": 20.0, "forbidden-syscalls": ["nanosleep,connect"], "allow-tests": None},
        start=tmp_path,
    )
    assert policy.max_block_ms == 20.0
    assert policy.forbidden == ("read", "nanosleep", "connect")
    assert policy.source.endswith("+ options")


def test_pyproject_without_our_table_is_fine(tmp_path):
    write_pyproject(tmp_path, '[project]\nname = "x"\n')
    assert load_policy({}, start=tmp_path) == Policy()


@pytest.mark.parametrize(
    "body, expected",
    [
        ("max-block-ms = -1", "max-block-ms = -1 must be a positive number"),
        ("max-block-ms = 0", "must be a positive number"),
        ('max-step-ms = "fast"', "max-step-ms = 'fast' must be a number of milliseconds"),
        ("max-step-ms = true", "must be a number of milliseconds"),
        (
            'forbidden-syscalls = ["nanoslep"]',
            "unknown syscall 'nanoslep' (did you mean nanosleep?)",
        ),
        ('forbidden-syscalls = ["frobnicate"]', "unknown syscall 'frobnicate'"),
        ("forbidden-syscalls = [1]", "forbidden-syscalls must be a list of strings"),
        ("max-blok-ms = 3", "unknown key 'max-blok-ms'"),
        ("allow-tests = 3", "allow-tests must be a list of strings"),
    ],
)
def test_bad_values_are_one_line_errors(tmp_path, body, expected):
    path = write_pyproject(tmp_path, f"[tool.syscorr]\n{body}\n")
    with pytest.raises(UsageError) as info:
        load_policy({}, start=tmp_path)
    message = str(info.value)
    assert expected in message
    assert str(path) in message and "\n" not in message


def test_bad_option_names_the_option(tmp_path):
    with pytest.raises(UsageError, match="--forbid names an unknown syscall 'sleep'"):
        load_policy({"forbidden-syscalls": ["sleep"]}, start=tmp_path)
    with pytest.raises(UsageError, match="--max-step-ms = -2"):
        load_policy({"max-step-ms": -2.0}, start=tmp_path)


def test_invalid_toml_and_missing_config(tmp_path):
    write_pyproject(tmp_path, "[tool.syscorr\n")
    with pytest.raises(UsageError, match="is not valid TOML"):
        load_policy({}, start=tmp_path)
    with pytest.raises(UsageError, match="does not exist"):
        load_policy({}, config=tmp_path / "missing.toml")

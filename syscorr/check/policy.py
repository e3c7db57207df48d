"""The policy `syscorr check` enforces: limits, forbidden syscalls and allow-lists.

Contract: `load_policy(overrides, start=Path.cwd(), config=None)` reads the `[tool.syscorr]`
table of the first pyproject.toml found in `start` or its parents (or of `config`, which must
exist), applies the command-line `overrides` on top (limits replace, lists extend) and returns
a validated `Policy`. Every bad value raises `UsageError` with one line naming the key, the
value and what is accepted; a missing table is not an error (the defaults apply).

pyproject.toml keys (all optional):

    [tool.syscorr]
    max-block-ms = 10          # a loop-thread syscall at least this long fails the check
    max-step-ms = 100          # a task/callback step running this long without yielding fails
    forbidden-syscalls = ["nanosleep", "clock_nanosleep"]   # never on the loop thread
    allow-modules = ["myapp.legacy", "myapp.vendor.*"]       # findings in these modules pass
    allow-functions = ["Cache.warm", "*.startup"]            # ... in these functions (qualname)
    allow-tests = ["tests/test_boot.py::*"]                  # ... while these tests ran
"""

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from syscorr.analysis.findings import MS, Rules
from syscorr.check import syscall_names
from syscorr.errors import UsageError

TABLE = "tool.syscorr"
LIMIT_KEYS = ("max-block-ms", "max-step-ms")
LIST_KEYS = ("forbidden-syscalls", "allow-modules", "allow-functions", "allow-tests")
KEYS = LIMIT_KEYS + LIST_KEYS
OPTIONS = "command line"
OPTION_NAMES = {
    "max-block-ms": "--max-block-ms",
    "max-step-ms": "--max-step-ms",
    "forbidden-syscalls": "--forbid",
    "allow-modules": "--allow-module",
    "allow-functions": "--allow-function",
    "allow-tests": "--allow-test",
}


def _key(key: str, where: str) -> str:
    """How to name a setting in an error: the option on the command line, else the key."""
    return OPTION_NAMES.get(key, key) if where == OPTIONS else key


@dataclass(frozen=True)
class Policy:
    max_block_ms: float = 10.0
    max_step_ms: float = 100.0
    forbidden: tuple[str, ...] = ()
    allow_modules: tuple[str, ...] = ()
    allow_functions: tuple[str, ...] = ()
    allow_tests: tuple[str, ...] = ()
    source: str = "defaults"  # "pyproject.toml at /repo", "options", ...
    warnings: tuple[str, ...] = field(default=(), compare=False)

    def rules(self) -> Rules:
        return Rules(
            int(self.max_block_ms * MS), int(self.max_step_ms * MS), frozenset(self.forbidden)
        )

    def describe(self) -> str:
        forbidden = ", ".join(self.forbidden) or "none"
        allowed = len(self.allow_modules) + len(self.allow_functions) + len(self.allow_tests)
        text = (
            f"loop block < {self.max_block_ms:g} ms, step < {self.max_step_ms:g} ms, "
            f"forbidden: {forbidden}"
        )
        if allowed:
            text += f", {allowed} allow rule(s)"
        return f"{text} ({self.source})"

    def as_dict(self) -> dict:
        return {
            "max-block-ms": self.max_block_ms,
            "max-step-ms": self.max_step_ms,
            "forbidden-syscalls": list(self.forbidden),
            "allow-modules": list(self.allow_modules),
            "allow-functions": list(self.allow_functions),
            "allow-tests": list(self.allow_tests),
            "source": self.source,
        }


def find_pyproject(start: Path) -> Path | None:
    """The nearest pyproject.toml in `start` or a parent directory."""
    start = start.resolve()
    for directory in (start, *start.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def read_table(path: Path) -> dict:
    """The `[tool.syscorr]` table of a pyproject.toml ({} when it has none)."""
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise UsageError(f"policy file {path} does not exist") from None
    except OSError as e:
        raise UsageError(f"cannot read policy file {path}: {e.strerror}") from e
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{path} is not valid TOML ({e}): fix it or pass --config") from e
    table = data.get("tool", {}).get("syscorr", {})
    if not isinstance(table, dict):
        raise UsageError(f"{path}: [{TABLE}] must be a table")
    return table


def _limit(key: str, value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UsageError(
            f"{where}: {_key(key, where)} = {value!r} must be a number of milliseconds (e.g. 10)"
        )
    if not value > 0 or value != value or value == float("inf"):
        raise UsageError(
            f"{where}: {_key(key, where)} = {value!r} must be a positive number of milliseconds"
        )
    return float(value)


def _names(key: str, value, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"{where}: {_key(key, where)} must be a list of strings, not {value!r}")
    names: list[str] = []
    for entry in value:
        names.extend(part.strip() for part in entry.split(",") if part.strip())
    return tuple(names)


def _syscalls(names: tuple[str, ...], where: str) -> tuple[str, ...]:
    for name in names:
        if name not in syscall_names.KNOWN:
            hint = syscall_names.suggest(name)
            also = f" (did you mean {hint}?)" if hint else ""
            option = _key("forbidden-syscalls", where)
            raise UsageError(
                f"{where}: {option} names an unknown syscall {name!r}{also}; "
                "use names as strace prints them, e.g. nanosleep, connect, read"
            )
    return tuple(dict.fromkeys(names))


def policy_from_table(table: dict, where: str, base: Policy = Policy()) -> Policy:
    """`base` with the keys of one `[tool.syscorr]`-style table applied (limits replace,
    lists extend)."""
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise UsageError(
            f"{where}: unknown key {unknown[0]!r} in [{TABLE}]; known keys: {', '.join(KEYS)}"
        )
    policy = base
    if "max-block-ms" in table:
        policy = replace(policy, max_block_ms=_limit("max-block-ms", table["max-block-ms"], where))
    if "max-step-ms" in table:
        policy = replace(policy, max_step_ms=_limit("max-step-ms", table["max-step-ms"], where))
    if "forbidden-syscalls" in table:
        names = _syscalls(_names("forbidden-syscalls", table["forbidden-syscalls"], where), where)
        policy = replace(policy, forbidden=tuple(dict.fromkeys(policy.forbidden + names)))
    for key, attr in (
        ("allow-modules", "allow_modules"),
        ("allow-functions", "allow_functions"),
        ("allow-tests", "allow_tests"),
    ):
        if key in table:
            extra = _names(key, table[key], where)
            policy = replace(policy, **{attr: getattr(policy, attr) + extra})
    return policy


def load_policy(
    overrides: dict | None = None, start: Path | None = None, config: Path | None = None
) -> Policy:
    """Defaults, then the pyproject table, then command-line overrides (same keys)."""
    path = Path(config) if config is not None else find_pyproject(start or Path.cwd())
    policy = Policy()
    sources = []
    if path is not None:
        table = read_table(path)
        if table or config is not None:
            policy = policy_from_table(table, str(path), policy)
            sources.append(str(path))
    overrides = {k: v for k, v in (overrides or {}).items() if v not in (None, [], ())}
    if overrides:
        policy = policy_from_table(overrides, OPTIONS, policy)
        sources.append("options")
    return replace(policy, source=" + ".join(sources) or "defaults")

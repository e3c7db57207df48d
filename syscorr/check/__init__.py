"""`syscorr check`: judge a trace against a policy, for CI.

The phases, one module each: `policy` (options + `[tool.syscorr]` in pyproject.toml ->
`Policy`), `evaluate` (trace + policy -> `CheckResult`, with `testspans` telling which pytest
test ran when), and the writers `text`, `jsonout`, `junit` and `github`, each writing a
`CheckResult` to a stream it is handed.
"""

"""The functional core: pure functions over frozen records. No network, disk, clock,
randomness or logging; time comes in as `now`.

The pipeline's decisions live here: `model` (the normalized job), `diff` (old state + new
snapshot -> state + alerts), `provider_poll` (restart chains and provider health across one
poll), `plan` and `cadence` (what to read and when), `policy` (routing, quiet hours, dedup,
rate limits), `routing` (the job matchers of routes and watch filters), `render` (the
message contract). May import: the standard library and other
core modules only (enforced by the import-linter `layers` contract in pyproject.toml).
"""

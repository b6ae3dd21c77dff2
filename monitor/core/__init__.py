"""The functional core: pure functions over frozen records. No network, disk, clock,
randomness or logging; time comes in as `now`.

The pipeline's decisions live here: `model` (the normalized job), `memory` (what ftmon
remembers of each job and provider), `diff` (old state + new snapshot -> state +
alerts, with its steps `events`, `losses`, `outcomes`, `job_conditions` and the record
they share, `job_alert`), `provider_poll` (restart chains and provider health across one
poll), `plan`, `reads`, `quiet`, `poll_plan` and `cadence` (what to read and diff, and
when), `policy`
(routing, quiet hours, dedup, rate limits), `routing` (the job matchers of routes and
watch filters), `render` (the message contract), `ledger` and `budgets` (money),
`incidents` and `inhibition` (many jobs in trouble at once). May import: the standard
library and other core modules only (enforced by the import-linter `layers` contract in
pyproject.toml).
"""

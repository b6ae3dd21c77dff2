"""The running program: daemon, poll wiring, scheduler, web endpoints, metrics, logs.

One poll, in order: `scheduler` says when, `poll.PollService` fetches (through
`monitor.providers`), diffs (through `monitor.core`) and commits (through
`monitor.storage`); `daemon` runs one `generation` (polls and deliveries built from one
config) after another until SIGTERM; `wiring` builds the
clients, store and services shared by `run`, `run --once` and the demo. `web` serves the
probes, metrics and OpenAI's webhooks (Starlette on uvicorn, guarded by `http_guard`);
`webhooks` verifies a delivery and hands a nudge (`nudges`) to the provider's poller, through
the database to the provider's leader on a shared state (`shared_nudges`). After each
poll, `costs` judges the budgets and the daily digest on the cost ledger.
`scheduler` is the only importer of apscheduler; `web`, `webhooks` and `http_guard` the
only importers of starlette and uvicorn. May import every layer below it.
"""

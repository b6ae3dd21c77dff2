"""The running program: daemon, poll wiring, scheduler, web endpoints, metrics, logs.

One poll, in order: `scheduler` says when, `poll.PollService` fetches (through
`monitor.providers`), diffs (through `monitor.core`) and commits (through
`monitor.storage`); `daemon` runs polls and deliveries until SIGTERM; `wiring` builds the
clients, store and services shared by `run`, `run --once` and the demo. `scheduler` is the
only importer of apscheduler. May import every layer below it.
"""

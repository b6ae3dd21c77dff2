"""Delivery: the dispatcher that reads the outbox and sends it, and the channels.

`dispatch` is the pipeline and its gates (`inhibit` one of them), `send` its last stage,
`loop` runs passes, `report` counts them; `channels` is the only module of ftmon that
imports apprise. May import: `monitor.core`, `monitor.config`, `monitor.storage`.
"""

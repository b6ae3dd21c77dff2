"""The CLI's commands besides `run`: `status`, `cost`, `explain`, `test-notify`, `demo`.

May import every layer below it (app, delivery, storage, providers, config, core) and the
simulator (for the demo).
"""

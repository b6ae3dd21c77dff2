"""Configuration: the TOML file of DESIGN section 5, read and checked into the records of
`monitor.core.settings`.

`load` finds and reads the file, `parse` validates decoded TOML (`cost`: `[cost]` and
`[[budgets]]`), `describe` renders the resolved config with secrets masked. May import:
`monitor.core` only.
"""

from monitor.config.describe import describe
from monitor.config.load import load, loose_secret_files, parse

__all__ = ["describe", "load", "loose_secret_files", "parse"]

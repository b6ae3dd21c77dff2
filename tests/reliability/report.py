"""`python -m tests.reliability.report`: the figures the suites last recorded, as Markdown.

Each suite writes `.reliability/<suite>.json` (or `$FTMON_FIGURES_DIR`) when it runs; this
prints one section per file, for RELIABILITY.md.
"""

from __future__ import annotations

import json
from typing import Any

from tests.reliability.kit import FIGURES_DIR


def _cell(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_cell(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "; ".join(_cell(v) for v in value)
    return str(value)


def main() -> None:
    for path in sorted(FIGURES_DIR.glob("*.json")):
        figures = json.loads(path.read_text())
        print(f"### {path.stem} ({figures.pop('recorded_at', '?')})\n")
        print("| figure | value |\n|---|---|")
        for key, value in sorted(figures.items()):
            print(f"| {key} | {_cell(value)} |")
        print()


if __name__ == "__main__":
    main()

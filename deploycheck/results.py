"""What the check found: one line per check, and a closing count."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field


@dataclass
class Results:
    passed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        detail = " ".join(detail.split())
        line = f"{name}: {detail}" if detail else name
        (self.passed if ok else self.failed).append(line)
        print(f"  {'PASS' if ok else 'FAIL'}  {line}", flush=True)
        return ok

    def closing_line(self) -> str:
        return f"deploy-check: {len(self.passed)} passed, {len(self.failed)} failed"


def wait_for(predicate: Callable[[], bool], timeout: float, step: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def non_json(lines: Iterable[str]) -> list[str]:
    """The lines that are not one JSON object each."""
    bad = []
    for line in lines:
        try:
            ok = isinstance(json.loads(line), dict)
        except ValueError:
            ok = False
        if not ok:
            bad.append(line)
    return bad


def events(lines: Iterable[str]) -> list[dict[str, object]]:
    """The JSON log lines, parsed (other lines skipped)."""
    out = []
    for line in lines:
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            out.append(value)
    return out

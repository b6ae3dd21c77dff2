"""The import contracts can fail: a forbidden import planted in a copy of the tree breaks them.

A rule that cannot fail is no rule. Each case copies `monitor/` and `pyproject.toml` to a
temporary folder, adds one import that the architecture forbids, and runs `lint-imports`
there; the named contract must be reported broken (and the clean copy must pass).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")

PLANTS = [
    # The core reaches the shell: the wiring module planted in the diff engine.
    ("monitor/core/diff.py", "from monitor.app import wiring", "Layers"),
    # The core does I/O through an HTTP library.
    ("monitor/core/render.py", "import httpx", "The core does no I/O"),
    # Sibling layers stay independent: providers may not reach storage.
    ("monitor/providers/base.py", "from monitor.storage import sqlite", "Layers"),
    # A lower layer reaches up: storage imports delivery.
    ("monitor/storage/outbox.py", "from monitor.delivery import dispatch", "Layers"),
    # apprise anywhere but delivery.channels.
    ("monitor/app/daemon.py", "import apprise", "Only delivery.channels imports apprise"),
    ("monitor/delivery/send.py", "import apprise", "Only delivery.channels imports apprise"),
    # apscheduler anywhere but app.scheduler.
    ("monitor/app/poll.py", "import apscheduler", "Only app.scheduler imports apscheduler"),
    # The simulator stays independent of what it tests.
    ("monitor/simulator/world.py", "from monitor.core import model", "The simulator imports"),
]


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    shutil.copytree(
        REPO / "monitor", root / "monitor", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT), "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_clean_tree_keeps_every_contract(tmp_path: Path) -> None:
    """Without a planted import, the copy is linted from the copy and passes."""
    result = _lint(_copy(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert str(tmp_path) not in result.stdout  # sanity: nothing reported against the copy


@pytest.mark.parametrize(("module", "line", "contract"), PLANTS)
def test_a_planted_forbidden_import_breaks_its_contract(
    tmp_path: Path, module: str, line: str, contract: str
) -> None:
    """Each forbidden import makes lint-imports fail, naming the contract it breaks."""
    root = _copy(tmp_path)
    target = root / module
    target.write_text(target.read_text() + f"\n{line}  # planted by the test\n")
    result = _lint(root)
    assert result.returncode != 0
    broken = [ln for ln in result.stdout.splitlines() if " BROKEN" in ln]
    assert any(ln.startswith(contract) for ln in broken), result.stdout

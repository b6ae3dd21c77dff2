"""`run --once` loads apprise only to validate a new channel set or to send (real processes).

`python -X importtime` lists every module a process imported, so the test reads whether
apprise was loaded from the process itself.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from tests.e2e.harness import ftmon_env, hooked, write_config

START = datetime(2026, 11, 4, 9, 0, tzinfo=UTC)
SLOW = {"queue_stall": "30m", "progress_stall": "2h", "eta_grace": "2h"}


def once(config: Path, now: datetime) -> tuple[int, bool, str]:
    """(exit status, whether apprise was imported, stderr less the import lines)."""
    done = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "tests.entry",
            "run",
            "--once",
            "-c",
            str(config),
        ],
        env=ftmon_env(now),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    imports = [line for line in done.stderr.splitlines() if line.startswith("import time:")]
    loaded = any(line.split("|")[-1].strip() == "apprise" for line in imports)
    rest = "\n".join(line for line in done.stderr.splitlines() if line not in imports)
    return done.returncode, loaded, rest


def test_apprise_is_loaded_once_per_channel_set_and_to_send(tmp_path: Path) -> None:
    with hooked(tmp_path, START, thresholds=SLOW) as (sim, config, receiver):
        code, loaded, err = once(config, sim.now)
        assert (code, loaded) == (0, True), err  # a channel set never validated
        code, loaded, err = once(config, sim.now)
        assert (code, loaded) == (0, False), err  # nothing to send, the set known
        sim.add_scenario("openai_failure", at=-600)
        code, loaded, err = once(config, sim.now)
        assert (code, loaded) == (2, True), err  # something to send
        assert len(receiver.requests) == 1
        other = {"hook": f"json://127.0.0.1:{receiver.port}/other"}
        config = write_config(tmp_path, sim, thresholds=SLOW, channels=other)
        code, loaded, err = once(config, sim.now)
        assert (code, loaded) == (0, True), err  # the URL changed: validated again
        broken = {"hook": "slack://"}
        config = write_config(tmp_path, sim, thresholds=SLOW, channels=broken)
        code, loaded, err = once(config, sim.now)
    assert code == 78, err
    assert "channels[0].url" in err

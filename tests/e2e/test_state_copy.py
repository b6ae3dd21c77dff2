"""`ftmon state copy`: a SQLite state moved into PostgreSQL (a throwaway server) alerts
nothing twice, and a database that already holds a state is refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from monitor.simulator import ManualClock, Simulator
from tests.e2e.harness import ftmon, ftmon_env, run_once, write_config
from tests.receivers import HttpReceiver
from tests.reliability import kit

START = datetime(2026, 11, 8, 9, 0, tzinfo=UTC)


def test_a_copied_state_goes_on_without_realerting(
    tmp_path: Path, pg_url: str, http_receiver: HttpReceiver
) -> None:
    """Alerts raised and delivered on SQLite, one left pending (the hook refused it); after
    the copy the PostgreSQL runs raise nothing again, send the pending one once, and
    nothing already sent is sent again."""
    with Simulator(clock=ManualClock(START)) as sim:
        config = write_config(
            tmp_path, sim, channels={"hook": f"json://127.0.0.1:{http_receiver.port}/"}
        )
        assert run_once(config, sim.now).returncode == 0  # the baseline
        sim.add_scenario("together_billing_limit", at=-7200, time_scale=0.3)
        sim.advance(60)
        assert run_once(config, sim.now).returncode == 2  # a failure, delivered
        before = kit.http_labels(http_receiver, ok_only=True)
        assert before
        http_receiver.refuse()
        sim.add_scenario("openai_failure", at=-3600, time_scale=0.3)
        sim.advance(60)
        assert run_once(config, sim.now).returncode == 2  # raised, the hook refused it
        http_receiver.recover()

        pg_config = tmp_path / "pg.toml"
        state_line = f'state = "{tmp_path / "state.db"}"'
        pg_config.write_text(config.read_text().replace(state_line, f'state = "{pg_url}"'))
        copy = ftmon(
            ["state", "copy", "--from", str(tmp_path / "state.db"), "-c", str(pg_config)],
            ftmon_env(),
        )
        assert copy.returncode == 0, copy.stderr
        assert "copied" in copy.stdout and "alerts" in copy.stdout

        later_now = sim.now.replace(hour=sim.now.hour + 1)
        later = run_once(pg_config, later_now)
        assert later.alerts == []  # nothing raised again
        after = kit.http_labels(http_receiver, ok_only=True)
        assert after[: len(before)] == before
        pending = [line for line in after[len(before) :] if "kind=job.failed" in line]
        assert len(pending) == 1 and len(after) == len(before) + 1  # the pending one, once
        assert {s for (_, s) in kit.delivery_counts(pg_url)} == {"sent"}
        cost = ftmon(["cost", "-c", str(pg_config), "--json"], ftmon_env(later_now))
        assert cost.returncode == 0, cost.stderr
        total = json.loads(cost.stdout)["total"]  # the ledger came along: two jobs, one priced
        assert (total["jobs"], total["price_not_given"]) == (2, 1)
        assert total["charged_usd"] > 0

        again = ftmon(
            ["state", "copy", "--from", str(tmp_path / "state.db"), "-c", str(pg_config)],
            ftmon_env(),
        )
        assert again.returncode != 0
        assert "already holds a state" in again.stderr

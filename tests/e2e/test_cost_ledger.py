"""The cost ledger through the real pipeline: priced Together jobs (one cancelled by its
billing limit, one restarted by the provider with a refund) and an OpenAI job that states
no price, polled by `run --once` as a cron job would; then `ftmon cost`, a budget alert
delivered to a real HTTP receiver, and the daily digest told once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.simulator import ManualClock, Simulator
from tests.e2e.harness import ftmon, ftmon_env, outbox_facts, run_once, write_config
from tests.receivers import HttpReceiver

START = datetime(2026, 11, 4, 9, 0, tzinfo=UTC)
SLOW = {"queue_stall": "6h", "progress_stall": "6h", "eta_grace": "6h"}
COST = """
[cost]
digest = true
digest_at = "08:00"

[[budgets]]
name = "together-daily"
providers = ["together-sim"]
period = "day"
warning = 15.0
failure = 40.0
"""


def _kinds(run: object, kind: str) -> list[dict[str, object]]:
    return [a for a in run.alerts if a["kind"] == kind]  # type: ignore[attr-defined]


def test_ledger_budget_and_digest_through_run_once(tmp_path: Path) -> None:
    receiver = HttpReceiver()
    try:
        with Simulator(clock=ManualClock(START)) as sim:
            config = write_config(
                tmp_path, sim, thresholds=SLOW, extra=COST,
                channels={"hook": f"json://127.0.0.1:{receiver.port}/"},
            )  # fmt: skip
            restart = sim.add_scenario("together_restart", at=-60)
            for name in ("together_success", "together_billing_limit", "openai_success"):
                sim.add_scenario(name, at=-60)
            first = run_once(config, sim.now)  # everything pending; yesterday's digest
            sim.advance(4000 - 60)
            middle = run_once(config, sim.now)  # restarted and refunded; spend $18.11
            sim.advance(5000)
            end = run_once(config, sim.now)  # all finished: $44.50 of Together work
            again = run_once(config, sim.now + timedelta(minutes=1))
            next_day = START + timedelta(days=1, minutes=-30)  # 08:30 the next day
            digest = run_once(config, next_day)
            digest_again = run_once(config, next_day + timedelta(hours=2))
            env = ftmon_env(sim.now)
            cost = ftmon(["cost", "-c", str(config), "--since", "1d", "--json"], env)
            table = ftmon(["cost", "-c", str(config), "--since", "1d"], env)
            by_model = ftmon(["cost", "-c", str(config), "--by", "model"], env)
    finally:
        receiver.close()

    # The budget: a warning once spend passed $15, a failure once it passed $40, never again.
    assert [a["severity"] for a in _kinds(first, "monitor.budget")] == []
    warned, failed = _kinds(middle, "monitor.budget"), _kinds(end, "monitor.budget")
    assert [a["severity"] for a in warned] == ["warning"]
    assert "net spend $18.11 reached the warning threshold $15.00" in str(warned[0]["summary"])
    assert [a["severity"] for a in failed] == ["failure"]
    assert "net spend $44.50 reached the failure threshold $40.00" in str(failed[0]["summary"])
    assert end.returncode == 2  # a failure alert was raised
    assert _kinds(again, "monitor.budget") == [] and _kinds(digest, "monitor.budget") == []
    labels = [r.json()["message"].splitlines()[-1] for r in receiver.requests]
    assert "kind=monitor.budget severity=failure provider=together-sim" in labels

    # The digest: yesterday's (empty) on the first run, this day's the next morning, once.
    told = [_kinds(r, "monitor.cost_digest") for r in (first, middle, end, again)]
    assert [len(t) for t in told] == [1, 0, 0, 0]
    assert "Cost on 2026-11-03 (UTC): net $0.00" in str(told[0][0]["summary"])
    (day,) = _kinds(digest, "monitor.cost_digest")
    assert str(day["summary"]).startswith(
        "Cost on 2026-11-04 (UTC): net $44.50 for 4 piece(s) of work (5 job(s)), "
        "charged $56.90, refunded $12.40; 1 job(s): price not given."
    )
    assert _kinds(digest_again, "monitor.cost_digest") == []
    kinds = [kind for _, kind, _ in outbox_facts(tmp_path / "state.db")]
    assert kinds.count("monitor.cost_digest") == 2 and kinds.count("monitor.budget") == 2

    # `ftmon cost`: the restart chain is one piece of work, its refund taken off once.
    assert cost.returncode == 0, cost.stderr
    lines = {line["key"]: line for line in json.loads(cost.stdout)["lines"]}
    # $12.84 completed + $13.06 billed for the steps run before the billing limit + the
    # restart chain ($12.40 charged, refunded, then $18.60 for the job that replaced it)
    assert lines["together-sim"] == {
        "key": "together-sim", "work": 3, "jobs": 4, "charged_usd": 56.9,
        "refunded_usd": 12.4, "net_usd": 44.5, "price_not_given": 0,
        "refund_amount_not_given": 0, "trained_tokens": 0,
    }  # fmt: skip
    assert lines["openai-sim"]["price_not_given"] == 1
    assert lines["openai-sim"]["trained_tokens"] == 412_830
    assert lines["openai-sim"]["net_usd"] is None  # no price stated: no amount, not $0
    assert table.returncode == 0, table.stderr
    assert "price not given" in table.stdout and "44.50" in table.stdout
    total = next(line for line in table.stdout.splitlines() if line.startswith("total"))
    assert total.split()[1:6] == ["4", "5", "56.90", "12.40", "44.50"]
    assert restart.job_ids[0] not in table.stdout  # grouped, not listed
    assert by_model.returncode == 0 and "gpt-4o-mini" in by_model.stdout


def test_cost_of_a_missing_state_is_a_config_error(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9")
    done = ftmon(["cost", "-c", str(config)], ftmon_env())
    assert done.returncode == 78
    assert str(tmp_path / "state.db") in done.stderr and "monitor.state" in done.stderr


def test_a_since_beyond_the_calendar_is_a_usage_error(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9")
    done = ftmon(["cost", "-c", str(config), "--since", "99999999d"], ftmon_env())
    assert done.returncode == 2, done.stderr
    assert "--since: expected at most 36500d" in done.stderr and "internal" not in done.stderr


def test_the_ledger_on_a_postgresql_state(tmp_path: Path, pg_url: str) -> None:
    """The same pipeline on a shared PostgreSQL state: `ftmon cost` reads it, and two
    processes (a restart, or a second replica) tell the day's digest once."""
    with Simulator(clock=ManualClock(START)) as sim:
        config = write_config(tmp_path, sim, thresholds=SLOW, extra=COST)
        text = config.read_text().replace(
            f'state = "{tmp_path / "state.db"}"', f'state = "{pg_url}"'
        )
        config.write_text(text)
        sim.add_scenario("together_restart", at=-60)
        runs = [run_once(config, sim.now)]
        sim.advance(9000)
        runs += [run_once(config, sim.now), run_once(config, sim.now + timedelta(seconds=5))]
        cost = ftmon(["cost", "-c", str(config), "--json"], ftmon_env(sim.now))
    assert [r.returncode for r in runs] == [0, 2, 0], [r.stderr for r in runs]  # 2: job.failed
    budget = [a["severity"] for r in runs for a in _kinds(r, "monitor.budget")]
    assert budget == ["warning"]  # $18.60 of $15 / $40, told once
    digests = [a for r in runs for a in _kinds(r, "monitor.cost_digest")]
    assert [str(a["summary"])[:22] for a in digests] == ["Cost on 2026-11-03 (UT"]
    assert cost.returncode == 0, cost.stderr
    total = json.loads(cost.stdout)["total"]
    assert (total["work"], total["jobs"], total["net_usd"], total["refunded_usd"]) == (
        1, 2, 18.6, 12.4
    )  # fmt: skip

"""`Relay`, the webhook receiver's nudges: local on one process, queued for the database
while a generation on a shared state relays, and back to local when the relay stops."""

from __future__ import annotations

from monitor.app.nudges import MAX_PENDING, LocalNudges, Relay


def test_without_a_relay_a_nudge_goes_to_the_local_poller() -> None:
    local = LocalNudges()
    Relay(local).nudge("openai", "ftjob-1")
    assert local.take("openai") == {"ftjob-1"}


def test_while_relaying_nudges_are_queued_once_and_the_relay_is_woken() -> None:
    local, woken = LocalNudges(), []
    relay = Relay(local)
    relay.relay(lambda: woken.append(1))
    for job in ("ftjob-1", "ftjob-2", "ftjob-1"):
        relay.nudge("openai", job)
    assert len(woken) == 3
    assert not local.pending("openai")  # the database decides who polls it
    assert relay.take_outgoing() == [("openai", "ftjob-1"), ("openai", "ftjob-2")]
    assert relay.take_outgoing() == []


def test_the_queue_is_bounded_and_what_is_left_goes_local_when_the_relay_stops() -> None:
    local = LocalNudges()
    relay = Relay(local)
    relay.relay(lambda: None)
    for n in range(MAX_PENDING + 5):
        relay.nudge("openai", f"ftjob-{n}")
    relay.relay(None)
    taken = local.take("openai")
    assert len(taken) == MAX_PENDING and "ftjob-0" not in taken
    relay.nudge("openai", "ftjob-x")
    assert local.take("openai") == {"ftjob-x"}

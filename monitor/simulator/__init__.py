"""The built-in provider simulator: Together AI and OpenAI fine-tuning APIs on loopback.

A real HTTP/1.1 server (standard library only) that serves both APIs at their real paths
in their real wire shapes, driven by scripted scenarios over a controllable clock, with
fault injection, request accounting and a scale mode. Point a client's `base_url` at
`Simulator.base_url` and nothing else changes.

    with Simulator() as sim:
        handle = sim.add_scenario("together_billing_limit", time_scale=0.01)
        sim.advance(60)

It can also send OpenAI's signed fine-tuning webhooks to a URL (`sim.webhooks`, see
`webhooks.py`). Run standalone with `python -m monitor.simulator --help`.
"""

from __future__ import annotations

from .clock import Clock, ManualClock, RealClock
from .scenarios import SCENARIOS, catalogue
from .script import Scenario
from .simulator import ScenarioHandle, Simulator

__all__ = [
    "SCENARIOS",
    "Clock",
    "ManualClock",
    "RealClock",
    "Scenario",
    "ScenarioHandle",
    "Simulator",
    "catalogue",
]

"""The scenario catalogue: every named scenario, by name."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from .scenarios_openai import OPENAI_SCENARIOS
from .scenarios_semantics import SEMANTICS_SCENARIOS
from .scenarios_together import TOGETHER_SCENARIOS
from .script import Scenario

SCENARIOS: Mapping[str, Scenario] = MappingProxyType(
    {s.name: s for s in (*TOGETHER_SCENARIOS, *OPENAI_SCENARIOS, *SEMANTICS_SCENARIOS)}
)


def catalogue() -> dict[str, str]:
    """Scenario names with their one-line descriptions."""
    return {name: scenario.description for name, scenario in SCENARIOS.items()}

"""Every fault the simulator injects (sim.faults) maps onto one ftmon error, then clears."""

from __future__ import annotations

from typing import Any

import pytest
from provider_testkit import SIM_KEYS, short_timeouts, sim_client

from monitor.core.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderNotFound,
    ProviderQuotaError,
    ProviderSchemaError,
    ProviderUnavailable,
)
from monitor.core.model import ProviderKind
from monitor.simulator import Simulator


def _fault_table() -> list[tuple[str, Any, type[ProviderError], float | None]]:
    return [
        ("500", lambda f: f.fail(500), ProviderUnavailable, None),
        ("503", lambda f: f.fail(503), ProviderUnavailable, None),
        ("504", lambda f: f.fail(504), ProviderUnavailable, None),
        ("520", lambda f: f.fail(520), ProviderUnavailable, None),
        ("524", lambda f: f.fail(524), ProviderUnavailable, None),
        ("529", lambda f: f.fail(529), ProviderUnavailable, None),
        ("429-retry-after", lambda f: f.rate_limit(retry_after=3), ProviderUnavailable, 3.0),
        (
            "429-retry-after-ms",
            lambda f: f.rate_limit(retry_after=3, retry_after_ms=1500),
            ProviderUnavailable,
            1.5,
        ),
        ("quota", lambda f: f.insufficient_quota(), ProviderQuotaError, None),
        ("truncated", lambda f: f.truncate(), ProviderSchemaError, None),
        ("malformed", lambda f: f.malformed(), ProviderSchemaError, None),
        ("dropped", lambda f: f.drop(), ProviderUnavailable, None),
        ("slow", lambda f: f.slow(0.5), ProviderUnavailable, None),
    ]


FAULTS = _fault_table()


@pytest.mark.parametrize("kind", list(ProviderKind))
@pytest.mark.parametrize(
    ("inject", "error_type", "wait"), [f[1:] for f in FAULTS], ids=[f[0] for f in FAULTS]
)
async def test_each_simulated_fault_maps_then_clears(
    sim: Simulator,
    kind: ProviderKind,
    inject: Any,
    error_type: type[ProviderError],
    wait: float | None,
) -> None:
    """Each fault raises exactly its error (and retry_after); the next poll is clean."""
    sim.add_synthetic(provider="together" if kind is ProviderKind.TOGETHER else "openai", count=5)
    client = sim_client(sim, kind, transport=short_timeouts())
    try:
        inject(sim.faults)
        with pytest.raises(ProviderError) as info:
            await client.list_jobs(created_after=None)
        assert type(info.value) is error_type
        assert getattr(info.value, "retry_after", None) == wait
        assert SIM_KEYS[kind] not in str(info.value)
        assert len(await client.list_jobs(created_after=None)) == 5
    finally:
        await client.aclose()


async def test_together_rate_limit_without_retry_after_uses_the_reset_header(
    sim: Simulator, together: Any
) -> None:
    """Together's `x-ratelimit-reset` is the fallback interval."""
    sim.faults.rate_limit(retry_after=None)
    with pytest.raises(ProviderUnavailable) as info:
        await together.list_jobs(created_after=None)
    assert info.value.retry_after == 1.0


@pytest.mark.parametrize("kind", list(ProviderKind))
@pytest.mark.parametrize("status", [401, 403])
async def test_a_revoked_key_is_an_auth_error(
    sim: Simulator, kind: ProviderKind, status: int
) -> None:
    """401 and 403 are permanent and never quote the provider's message (it echoes the key)."""
    client = sim_client(sim, kind)
    try:
        sim.faults.revoke(str(kind), status=status)
        with pytest.raises(ProviderAuthError) as info:
            await client.list_jobs(created_after=None)
        sim.faults.restore(str(kind))
        assert await client.list_jobs(created_after=None) == []
    finally:
        await client.aclose()
    assert type(info.value) is ProviderAuthError  # permanent: not a ProviderUnavailable
    assert SIM_KEYS[kind] not in str(info.value)
    assert "API key provided" not in str(info.value)  # the body is not quoted


@pytest.mark.parametrize("scenario", ["together_success", "openai_success"])
async def test_a_vanished_job_is_not_found(sim: Simulator, scenario: str) -> None:
    """A job that answers 404 raises ProviderNotFound naming it, from every job call."""
    handle = sim.add_scenario(scenario)
    sim.advance(60)
    sim.faults.vanish(handle.job_id)
    client = sim_client(sim, ProviderKind(handle.provider))
    try:
        for call in (
            client.retrieve(handle.job_id),
            client.events(handle.job_id, after_key=None),
            client.checkpoints(handle.job_id),
        ):
            with pytest.raises(ProviderNotFound) as info:
                await call
            assert info.value.job_id == handle.job_id
    finally:
        await client.aclose()

"""Provider clients: one module per provider behind the `ProviderClient` Protocol."""

from __future__ import annotations

from typing import assert_never

import httpx

from monitor.core.model import ProviderKind, ProviderTraits
from monitor.core.settings import ProviderConfig
from monitor.providers import openai, together
from monitor.providers.base import ProviderClient
from monitor.providers.http_client import ResponseCounter
from monitor.providers.openai import OpenAIClient
from monitor.providers.together import TogetherClient

__all__ = [
    "TRAITS",
    "OpenAIClient",
    "ProviderClient",
    "ResponseCounter",
    "TogetherClient",
    "make_client",
]

# Each provider's traits, declared in its own module; by kind, for the shell.
TRAITS: dict[str, ProviderTraits] = {t.kind: t for t in (together.TRAITS, openai.TRAITS)}


def make_client(
    cfg: ProviderConfig,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    on_response: ResponseCounter | None = None,
) -> ProviderClient:
    """The client for `cfg.kind`; `transport` is for tests and benchmarks (default: network)."""
    match cfg.kind:
        case ProviderKind.TOGETHER:
            return TogetherClient(cfg, transport=transport, on_response=on_response)
        case ProviderKind.OPENAI:
            return OpenAIClient(cfg, transport=transport, on_response=on_response)
        case _:
            assert_never(cfg.kind)

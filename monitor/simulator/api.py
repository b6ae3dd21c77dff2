"""The two provider APIs: routes, auth, error answers, and the way in to the endpoints.

Everything here is synchronous and in memory; `server` does the HTTP. `Api.serve` checks
the key, a vanished job, then runs the route's handler (see `endpoints`) under the world
lock and returns a `Reply` (status, body, headers).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .actions import Actions
from .endpoints import BadRequest, Endpoints, Query, Reply
from .faults import Faults, Rule
from .script import Provider
from .wire import error_body
from .world import World

__all__ = ["ROUTES", "Api", "Reply", "Route", "match", "provider_of"]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    template: str
    provider: Provider
    handler: str
    pattern: re.Pattern[str]


def _route(method: str, template: str, provider: Provider, handler: str) -> Route:
    regex = re.escape(template).replace(re.escape("{id}"), "(?P<id>[^/]+)")
    return Route(method, template, provider, handler, re.compile(f"^{regex}$"))


ROUTES = (
    _route("GET", "/v1/fine-tunes", "together", "tg_list"),
    _route("GET", "/v1/fine-tunes/{id}", "together", "tg_retrieve"),
    _route("GET", "/v1/fine-tunes/{id}/events", "together", "tg_events"),
    _route("GET", "/v1/fine-tunes/{id}/checkpoints", "together", "tg_checkpoints"),
    _route("GET", "/v1/fine-tunes/{id}/metrics", "together", "tg_metrics"),
    _route("POST", "/v1/fine-tunes/{id}/cancel", "together", "tg_cancel"),
    _route("GET", "/v1/fine_tuning/jobs", "openai", "oa_list"),
    _route("GET", "/v1/fine_tuning/jobs/{id}", "openai", "oa_retrieve"),
    _route("GET", "/v1/fine_tuning/jobs/{id}/events", "openai", "oa_events"),
    _route("GET", "/v1/fine_tuning/jobs/{id}/checkpoints", "openai", "oa_checkpoints"),
    _route("POST", "/v1/fine_tuning/jobs/{id}/cancel", "openai", "oa_cancel"),
    _route("POST", "/v1/fine_tuning/jobs/{id}/pause", "openai", "oa_pause"),
    _route("POST", "/v1/fine_tuning/jobs/{id}/resume", "openai", "oa_resume"),
)


def match(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    for route in ROUTES:
        if route.method == method:
            found = route.pattern.match(path)
            if found:
                return route, found.groupdict()
    return None


def provider_of(path: str) -> Provider | None:
    if path.startswith("/v1/fine-tunes"):
        return "together"
    if path.startswith("/v1/fine_tuning"):
        return "openai"
    return None


class Api(Endpoints):
    def __init__(
        self, world: World, actions: Actions, faults: Faults, keys: Mapping[Provider, str]
    ) -> None:
        super().__init__(world, actions)
        self.faults = faults
        self.keys = dict(keys)

    # -- entry points ----------------------------------------------------------------------

    def serve(
        self, route: Route, params: dict[str, str], query: Query, auth: str | None, now: float
    ) -> Reply:
        denied = self._auth(route.provider, auth)
        if denied is not None:
            return denied
        job_id = params.get("id")
        if job_id is not None and self.faults.vanished(job_id):
            return self.not_found(route.provider, job_id)
        handler: Callable[[dict[str, str], Query, float], Reply] = getattr(self, route.handler)
        try:
            with self.world.lock:
                return handler(params, query, now)
        except BadRequest as exc:
            body = error_body(str(exc), "invalid_request_error", param=exc.param)
            return self.reply(route.provider, 400, body)

    def internal_error(self, provider: Provider | None, exc: Exception) -> Reply:
        body = error_body(f"Simulator error: {type(exc).__name__}: {exc}", "server_error")
        return self.reply(provider, 500, body)

    def unmatched(self, method: str, path: str) -> Reply:
        body = error_body(f"Invalid URL ({method} {path})", "invalid_request_error")
        return self.reply(provider_of(path), 404, body)

    def fault(self, provider: Provider | None, rule: Rule) -> Reply:
        """The answer a `fail`, `rate_limit` or `quota` fault gives."""
        oa = provider == "openai"
        if rule.kind == "quota":
            message = (
                rule.message or "You exceeded your current quota; check your plan and billing."
            )
            body = error_body(message, "insufficient_quota", code="insufficient_quota")
            return self.reply(provider, 429, body)
        if rule.kind == "rate_limit":
            headers: dict[str, str] = {}
            if rule.retry_after is not None:
                headers["retry-after"] = _number(rule.retry_after)
            if rule.retry_after_ms is not None:
                headers["retry-after-ms"] = str(rule.retry_after_ms)
            wait = rule.retry_after if rule.retry_after is not None else 1
            if oa:
                headers |= {
                    "x-ratelimit-limit-requests": "500",
                    "x-ratelimit-remaining-requests": "0",
                    "x-ratelimit-reset-requests": f"{_number(wait)}s",
                }
                body = error_body(
                    rule.message
                    or f"Rate limit reached for requests. Try again in {_number(wait)}s.",
                    "requests",
                    code="rate_limit_exceeded",
                )
            else:
                headers |= {
                    "x-ratelimit-limit": "60",
                    "x-ratelimit-remaining": "0",
                    "x-ratelimit-reset": _number(wait),
                }
                body = error_body(
                    rule.message or "Request rate limit exceeded; slow down.",
                    "dynamic_request_limited",
                )
            return self.reply(provider, 429, body, headers)
        message = rule.message or f"The server could not handle the request (HTTP {rule.status})."
        return self.reply(provider, rule.status, error_body(message, "server_error"))

    # -- shared answers ----------------------------------------------------------------------

    def _auth(self, provider: Provider, auth: str | None) -> Reply | None:
        revoked = self.faults.revoked(provider)
        scheme, _, key = (auth or "").partition(" ")
        valid = scheme.lower() == "bearer" and key.strip() == self.keys[provider]
        if revoked == 403 and valid:
            body = error_body(
                "This API key is not allowed to use fine-tuning.",
                "invalid_request_error",
                code="permission_denied",
            )
            return self.reply(provider, 403, body)
        if valid and revoked is None:
            return None
        shown = key.strip()
        masked = f"{shown[:4]}****{shown[-4:]}" if len(shown) > 8 else "****"
        message = (
            f"Incorrect API key provided: {masked}. Check the key in your account settings."
            if provider == "openai"
            else "Invalid API key provided."
        )
        body = error_body(message, "invalid_request_error", code="invalid_api_key")
        return self.reply(provider, 401, body)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)

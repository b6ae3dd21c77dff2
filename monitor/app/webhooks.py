"""OpenAI's fine-tuning webhooks: verify, answer at once, nudge the poller.

    POST /webhooks/openai/{provider}   headers webhook-id, webhook-timestamp, webhook-signature

In order, each step's failure answered and counted in `ftmon_webhooks_total{outcome}`:

    unknown_endpoint 404  no provider of that name has a `webhook_secret`
    too_large        413  body over MAX_BODY bytes
    slow             408  body not received within the server's timeout
    unsigned         400  a Standard Webhooks header is missing
    stale / future   400  webhook-timestamp more than TOLERANCE from now (or not a number)
    bad_signature    401  no listed `v1,` signature matches (HMAC-SHA256, constant time,
                          by the `standardwebhooks` reference implementation)
    replayed         409  this webhook-id with this timestamp was accepted before
    duplicate        200  this webhook-id again with a newer timestamp: the sender's retry
                          of a delivery whose answer it lost; acknowledged, not acted on
    malformed        400  signed, but not a JSON event with `type` and `data.id`
    ignored          200  a signed event of another type (batch.*, response.*, ...)
    accepted         200  a fine-tuning job succeeded, failed or was cancelled

A rejection changes nothing and is logged once per (source, outcome), without the body.
An accepted event only *nudges*: the provider's poller reads that job at once through the
ordinary poll (`nudges`), so what is alerted is what the API shows, once.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import anyio
import structlog
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response

from monitor.app.metrics import Metrics
from monitor.app.nudges import Nudges

log = structlog.get_logger("ftmon.webhooks")

MAX_BODY = 64 * 1024  # OpenAI's events are a few hundred bytes
TOLERANCE = 300.0  # seconds either side of now, as the Standard Webhooks libraries use
SEEN_IDS = 10_000  # accepted webhook-ids remembered (for 2 x TOLERANCE)
LOGGED_SOURCES = 1024  # (source, outcome) pairs already logged
JOB_EVENTS = frozenset(
    {"fine_tuning.job.succeeded", "fine_tuning.job.failed", "fine_tuning.job.cancelled"}
)
HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
UNKNOWN_PROVIDER = "(unknown)"


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    outcome: str
    text: str


_ANSWERS = {
    a.outcome: a
    for a in (
        Answer(400, "unsigned", "missing webhook-id, webhook-timestamp or webhook-signature"),
        Answer(400, "stale", "webhook-timestamp too old"),
        Answer(400, "future", "webhook-timestamp too far in the future"),
        Answer(401, "bad_signature", "no valid signature"),
        Answer(409, "replayed", "webhook-id already received"),
        Answer(200, "duplicate", "ok (already received)"),
        Answer(400, "malformed", "not a webhook event"),
        Answer(200, "ignored", "ok (not a fine-tuning job event)"),
        Answer(200, "accepted", "ok"),
        Answer(413, "too_large", "body too large"),
        Answer(408, "slow", "body not received in time"),
    )
}
OUTCOMES = (*_ANSWERS, "unknown_endpoint")


class WebhookReceiver:
    """Verifies deliveries for the providers that have a secret; one per process.

    `secrets` maps a provider name to its `whsec_...` signing secret (`configure` replaces
    them on reload; the ids already seen are kept); `clock` is wall time in Unix seconds
    (the signature's window is about the network, not about job time).
    """

    def __init__(
        self,
        secrets: Mapping[str, str],
        nudges: Nudges,
        metrics: Metrics,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._nudges, self._metrics, self._clock = nudges, metrics, clock
        self._seen: OrderedDict[tuple[str, str], tuple[str, float]] = OrderedDict()
        self._logged: OrderedDict[tuple[str, str], None] = OrderedDict()
        self.configure(secrets)

    def configure(self, secrets: Mapping[str, str]) -> None:
        self._verifiers = {name: Webhook(secret) for name, secret in secrets.items()}
        self._metrics.prepare_webhooks(list(self._verifiers), OUTCOMES)

    def accepts(self, provider: str) -> bool:
        return provider in self._verifiers

    def count(self, provider: str, outcome: str) -> None:
        label = provider if provider in self._verifiers else UNKNOWN_PROVIDER
        self._metrics.webhook(label, outcome)

    def refuse(self, provider: str, outcome: str, source: str) -> Response:
        """Count and log a request refused before verification (size, time)."""
        answer = self._finish(provider, _ANSWERS[outcome], source)
        return PlainTextResponse(f"{answer.text}\n", answer.status)

    def receive(
        self, provider: str, headers: Mapping[str, str], body: bytes, source: str
    ) -> Answer:
        """Verify one delivery and, if it is a fine-tuning job event, nudge the poller."""
        return self._finish(provider, self._judge(provider, headers, body), source)

    def _judge(self, provider: str, headers: Mapping[str, str], body: bytes) -> Answer:
        msg_id, stamp, _sig = (headers.get(h, "") for h in HEADERS)
        if not all(headers.get(h) for h in HEADERS):
            return _ANSWERS["unsigned"]
        skew = _skew(stamp, self._clock())
        if skew is None or skew < -TOLERANCE:
            return _ANSWERS["stale"]
        if skew > TOLERANCE:
            return _ANSWERS["future"]
        try:
            self._verifiers[provider].verify(body, dict(headers), json_parse=False)
        except (WebhookVerificationError, ValueError):
            return _ANSWERS["bad_signature"]
        seen = self._remember(provider, msg_id, stamp)
        if seen is not None:
            return _ANSWERS["replayed" if seen == stamp else "duplicate"]
        job_id, kind = _event(body)
        if job_id is None:
            return _ANSWERS["malformed"]
        if kind not in JOB_EVENTS:
            return _ANSWERS["ignored"]
        self._nudges.nudge(provider, job_id)
        log.info("webhook_accepted", provider=provider, job=job_id, type=kind, webhook_id=msg_id)
        return _ANSWERS["accepted"]

    def _remember(self, provider: str, msg_id: str, stamp: str) -> str | None:
        """The timestamp this id was first accepted with, or None (and remember it now)."""
        now, seen = self._clock(), self._seen
        while seen and next(iter(seen.values()))[1] < now - 2 * TOLERANCE:
            seen.popitem(last=False)
        first = seen.get((provider, msg_id))
        if first is not None:
            return first[0]
        seen[(provider, msg_id)] = (stamp, now)
        if len(seen) > SEEN_IDS:
            seen.popitem(last=False)
        return None

    def _finish(self, provider: str, answer: Answer, source: str) -> Answer:
        self.count(provider, answer.outcome)
        if answer.status >= 400 and (source, answer.outcome) not in self._logged:
            self._logged[(source, answer.outcome)] = None
            if len(self._logged) > LOGGED_SOURCES:
                self._logged.popitem(last=False)
            log.warning(
                "webhook_rejected",
                provider=provider,
                source=source,
                outcome=answer.outcome,
                status=answer.status,
                note="logged once per source and outcome; see ftmon_webhooks_total",
            )
        return answer


def _skew(stamp: str, now: float) -> float | None:
    """Seconds the timestamp lies ahead of now (negative: behind); None if no number."""
    try:
        return int(stamp.strip()) - now
    except ValueError:
        return None


def _event(body: bytes) -> tuple[str | None, str]:
    """(job id, event type) of an OpenAI event body; (None, "") when it is not one."""
    try:
        payload = json.loads(body)
    except ValueError:
        return None, ""
    data = payload.get("data") if isinstance(payload, dict) else None
    kind = payload.get("type") if isinstance(payload, dict) else None
    job_id = data.get("id") if isinstance(data, dict) else None
    if not isinstance(kind, str) or not isinstance(job_id, str) or not job_id:
        return None, ""
    return job_id, kind


async def read_body(
    request: Request, receiver: WebhookReceiver, provider: str, source: str, seconds: float
) -> bytes | Response:
    """The raw body, or the refusal: over MAX_BODY (413) or not in within `seconds` (408)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return receiver.refuse(provider, "too_large", source)
    body = bytearray()
    try:
        with anyio.fail_after(seconds):
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_BODY:
                    return receiver.refuse(provider, "too_large", source)
    except TimeoutError:
        return receiver.refuse(provider, "slow", source)
    except ClientDisconnect:
        return receiver.refuse(provider, "slow", source)
    return bytes(body)

"""OpenAI's fine-tuning webhooks, sent the way OpenAI sends them.

When an OpenAI job's status becomes succeeded, failed or cancelled, the simulator POSTs a
thin event to the configured URL:

    {"id": "evt_…", "object": "event", "created_at": <unix s>,
     "type": "fine_tuning.job.succeeded", "data": {"id": "ftjob-…"}}

signed as Standard Webhooks prescribes (`webhook-id`, `webhook-timestamp` in wall-clock
Unix seconds, `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">` keyed
with the base64 part of a `whsec_…` secret). Written here with the standard library, apart
from ftmon's verifier, so the two check each other. A non-2xx answer or a connection error
is retried with exponential backoff (`backoff`, doubling) up to `max_attempts`. Switches:

    enabled    False: changes are noted but nothing is sent (webhooks "switched off")
    duplicate  chance that a delivered event is delivered once more, same webhook-id
    shuffle    seconds: each event waits a random 0..shuffle before its first attempt, so
               later events overtake earlier ones (out of order)

Jobs already finished when webhooks are configured send nothing. A background thread
looks at the jobs every SCAN seconds (any clock: manual or real time). Every attempt is
kept in `deliveries()` (for tests and the latency benchmark).
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import http.client
import json
import random
import threading
import time
from dataclasses import asdict, dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from .clock import Clock
from .timeline import Job
from .wire import OPENAI_TERMINAL
from .world import World

SCAN = 0.02  # seconds between looks at the jobs
MAX_KEPT = 10_000  # delivery records kept


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    url: str
    secret: str
    enabled: bool = True
    duplicate: float = 0.0
    shuffle: float = 0.0
    backoff: float = 0.5
    max_attempts: int = 8
    timeout: float = 5.0

    def public(self) -> dict[str, Any]:
        """The settings without the secret."""
        shown = asdict(self)
        shown.pop("secret")
        return shown


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    job_id: str
    type: str
    changed_at: float  # simulated time of the status change
    body: bytes


@dataclass(frozen=True, slots=True)
class Delivery:
    """One attempt: what was sent, when (wall clock), and the answer (None: no answer)."""

    event_id: str
    job_id: str
    type: str
    attempt: int
    duplicate: bool
    changed_at: float
    sent_at: float
    status: int | None


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 signature>` of one message (Standard Webhooks, HMAC-SHA256)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


class WebhookSender:
    """Watches the OpenAI jobs of a world and sends their terminal changes."""

    def __init__(self, world: World, clock: Clock, seed: int | str = 0) -> None:
        self.world, self.clock = world, clock
        self._rng = random.Random(f"{seed}:webhooks")
        self._settings: WebhookSettings | None = None
        self._noted: set[tuple[str, str]] = set()
        self._queue: list[tuple[float, int, Event, int, bool]] = []
        self._seq = 0
        self._deliveries: list[Delivery] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- control -----------------------------------------------------------------------------

    def configure(self, url: str | None = None, secret: str | None = None, **switches: Any) -> None:
        """Set (or change some of) the settings; the first call starts the sender."""
        with self._lock:
            current = self._settings
            if current is None:
                if not url or not secret:
                    raise ValueError("webhooks need a url and a secret first")
                base64.b64decode(secret.removeprefix("whsec_"), validate=True)
                self._settings = WebhookSettings(url=url, secret=secret, **switches)
                self._note_changes(announce=False)
            else:
                given = {"url": url, "secret": secret, **switches}
                self._settings = replace(
                    current, **{k: v for k, v in given.items() if v is not None}
                )
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, daemon=True, name="sim-webhooks")
            self._thread.start()

    def settings(self) -> WebhookSettings | None:
        return self._settings

    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    # -- the loop ----------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.wait(SCAN):
            with self._lock:
                self._note_changes(announce=True)
                due = self._due(time.time())
            for item in due:
                if self._stop.is_set():
                    return
                self._attempt(*item)

    def _note_changes(self, *, announce: bool) -> None:
        """Queue an event for each OpenAI job newly in a terminal status (lock held)."""
        settings, now = self._settings, self.clock.timestamp()
        with self.world.lock:
            finished = [
                (job.id, status, _changed_at(job, now))
                for job in self.world.all("openai")
                if job.created_t <= now and (status := job.state(now).status) in OPENAI_TERMINAL
            ]
        for job_id, status, changed in finished:
            if (job_id, status) in self._noted:
                continue
            self._noted.add((job_id, status))
            if announce and settings is not None and settings.enabled:
                self._enqueue(self._event(job_id, status, changed), settings)

    def _event(self, job_id: str, status: str, changed_at: float) -> Event:
        digest = hashlib.sha256(f"{job_id}:{status}".encode()).hexdigest()[:24]
        kind = f"fine_tuning.job.{status}"
        payload = {
            "id": f"evt_{digest}",
            "object": "event",
            "created_at": int(changed_at),
            "type": kind,
            "data": {"id": job_id},
        }
        body = json.dumps(payload, separators=(",", ":")).encode()
        return Event(f"evt_{digest}", job_id, kind, changed_at, body)

    def _enqueue(self, event: Event, settings: WebhookSettings) -> None:
        hold = self._rng.uniform(0, settings.shuffle) if settings.shuffle > 0 else 0.0
        self._push(time.time() + hold, event, 1, False)

    def _push(self, due: float, event: Event, attempt: int, duplicate: bool) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (due, self._seq, event, attempt, duplicate))

    def _due(self, now: float) -> list[tuple[Event, int, bool]]:
        out = []
        while self._queue and self._queue[0][0] <= now:
            _due, _seq, event, attempt, duplicate = heapq.heappop(self._queue)
            out.append((event, attempt, duplicate))
        return out

    def _attempt(self, event: Event, attempt: int, duplicate: bool) -> None:
        settings = self._settings
        if settings is None or not settings.enabled:
            return  # switched off while queued: dropped, as a disabled endpoint would be
        sent_at = time.time()
        status = _post(settings, event, int(sent_at))
        record = Delivery(
            event.id,
            event.job_id,
            event.type,
            attempt,
            duplicate,
            event.changed_at,
            sent_at,
            status,
        )
        with self._lock:
            self._deliveries.append(record)
            del self._deliveries[:-MAX_KEPT]
            ok = status is not None and 200 <= status < 300
            if not ok and attempt < settings.max_attempts:
                wait = settings.backoff * 2 ** (attempt - 1) * self._rng.uniform(0.8, 1.2)
                self._push(time.time() + wait, event, attempt + 1, duplicate)
            elif ok and not duplicate and self._rng.random() < settings.duplicate:
                self._push(time.time() + self._rng.uniform(0.05, 0.3), event, 1, True)


def _changed_at(job: Job, now: float) -> float:
    """Simulated time of the last status step at or before `now` (world lock held)."""
    for step in reversed(job.steps):
        if step.t <= now and step.source.status is not None:
            return step.t
    return now


def _post(settings: WebhookSettings, event: Event, timestamp: int) -> int | None:
    """POST the signed event; the HTTP status, or None when no answer came."""
    url = urlsplit(settings.url)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "ftmon-simulator-webhooks",
        "webhook-id": event.id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(settings.secret, event.id, timestamp, event.body),
    }
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=settings.timeout)
    try:
        conn.request("POST", url.path or "/", body=event.body, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError:
        return None
    finally:
        conn.close()


def webhook_control(sim: Any, body: dict[str, Any]) -> dict[str, Any]:
    """`/_sim/webhooks`: POST a body to configure (any subset of the settings), GET to read."""
    sender: WebhookSender = sim.webhooks
    if body:
        sender.configure(**body)
    settings = sender.settings()
    return {
        "settings": None if settings is None else settings.public(),
        "deliveries": [asdict(d) for d in sender.deliveries()],
    }

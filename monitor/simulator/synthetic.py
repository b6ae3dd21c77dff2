"""Scale mode: many realistic jobs from a seed, and churn between polls.

`synthetic_jobs` draws N jobs spread over the last six and a half days: most finished
(completed/succeeded, some failed or cancelled), about one in ten running and one in
twenty queued, each with a short but complete lifecycle built from the same phases as the
named scenarios. `churn` makes a fraction of the unfinished jobs take their next scripted
step right now (an event, a queue move, a status change) and submits a few new jobs.
"""

from __future__ import annotations

import functools
import itertools
import math
import random
from functools import partial
from typing import Any

from .materialize import Materializer
from .phases import OA_CANCELLED, TG_USER_CANCEL, loss_curve
from .phases_openai import oa_intake, oa_metrics, oa_run, oa_start
from .phases_together import tg_intake, tg_start, tg_stop, tg_train, tg_wrap_up
from .script import NOW, Ev, Provider, Step
from .timeline import Job
from .world import World

DAY = 86_400.0
SUFFIXES = ("support-bot", "summarizer", "triage", "legal-qa", "ranker", "sql-gen", "faq")
TOGETHER_MODELS = (
    "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
    "meta-llama/Meta-Llama-3.1-70B-Instruct-Reference",
    "Qwen/Qwen2.5-7B-Instruct",
)
OPENAI_MODELS = ("gpt-4o-mini-2024-07-18", "gpt-4.1-mini-2025-04-14", "gpt-4o-2024-08-06")
# (outcome, weight): most jobs are long finished.
OUTCOMES = (
    ("done", 72),
    ("user_error", 5),
    ("error", 2),
    ("cancelled", 6),
    ("running", 10),
    ("queued", 5),
)

_OUTCOME_NAMES = [name for name, _ in OUTCOMES]
_ACTIVE = frozenset({"running", "queued"})


def outcome_weights(active: float | None = None) -> list[float]:
    """Cumulative weights of `OUTCOMES`; `active` (0-1) sets the share of jobs running or
    queued (two to one, as in the default mix), the finished outcomes scaled to the rest."""
    if active is None:
        return list(itertools.accumulate(float(w) for _, w in OUTCOMES))
    if not 0.0 <= active <= 1.0:
        raise ValueError("active must be between 0 and 1")
    live = sum(w for name, w in OUTCOMES if name in _ACTIVE)
    done = sum(w for name, w in OUTCOMES if name not in _ACTIVE)
    shares = [
        w * active / live if name in _ACTIVE else w * (1.0 - active) / done for name, w in OUTCOMES
    ]
    return list(itertools.accumulate(shares))


_OUTCOME_CUM = outcome_weights()


VARIANTS = 48  # distinct lifecycles per (provider, outcome); jobs share their steps


def synthetic_jobs(
    mat: Materializer,
    provider: Provider,
    count: int,
    seed: int | str,
    now: float,
    active: float | None = None,
) -> list[Job]:
    rng = random.Random(f"{seed}:{provider}")
    weights = outcome_weights(active)
    return [new_job(mat, provider, rng, now, weights=weights) for _ in range(count)]


def new_job(
    mat: Materializer,
    provider: Provider,
    rng: random.Random,
    now: float,
    *,
    fresh: bool = False,
    weights: list[float] = _OUTCOME_CUM,
) -> Job:
    """One job with a drawn outcome; `fresh`: submitted right now, queued for a while.

    The job plays one of a few dozen lifecycles per outcome, stretched by its own factor.
    """
    outcome = "queued" if fresh else rng.choices(_OUTCOME_NAMES, cum_weights=weights)[0]
    steps, queue = _lifecycle(provider, outcome, rng.randrange(VARIANTS))
    scale = rng.uniform(0.7, 1.4)
    queue, length = queue * scale, max(s.at for s in steps) * scale
    if outcome == "running":
        age = rng.uniform(queue + 60, queue + 60 + (length - queue - 60) * 0.8)
    elif outcome == "queued":
        age = 0.0 if fresh else rng.uniform(0, queue * 0.9)
    else:
        age = rng.uniform(length, 6.5 * DAY)
    created = round(now - age, 3)
    fields: dict[str, Any]
    if provider == "together":
        fields = {"model": rng.choice(TOGETHER_MODELS), "suffix": rng.choice(SUFFIXES)}
    else:
        fields = {"model": rng.choice(OPENAI_MODELS), "user_provided_suffix": rng.choice(SUFFIXES)}
    job = mat.job(provider, created=created, fields=fields, steps=steps, scale=scale)
    job.meta["synthetic"] = True
    return job


@functools.cache
def _lifecycle(provider: Provider, outcome: str, variant: int) -> tuple[tuple[Step, ...], float]:
    """A lifecycle's steps and its time in the queue (unscaled)."""
    rng = random.Random(f"{provider}:{outcome}:{variant}")
    queue = rng.uniform(60, 900) if outcome != "queued" else rng.uniform(3600, 4 * 3600)
    builder = _together if provider == "together" else _openai
    return tuple(builder(rng, outcome, queue)), queue


def _tg_end(at: float, status: str, type_: str, message: str) -> Step:
    event = Ev(type=type_, level="Error", message=message)
    return Step(at=at, status=status, fields={"eta_in": None}, event=event)


def _oa_failed(at: float, code: str, param: str | None, message: str) -> Step:
    error = {"code": code, "param": param, "message": message}
    event = Ev(type="message", level="error", message=message)
    return Step(at=at, status="failed", fields={"error": error, "eta_in": None}, event=event)


def _together(rng: random.Random, outcome: str, queue: float) -> list[Step]:
    epochs = rng.randint(1, 3)
    epoch_seconds = rng.uniform(600, 2400)
    per_epoch = rng.choice((50, 100, 200))
    price = round(rng.uniform(0.5, 9.0), 2)
    steps = tg_intake(0, queue=((30, rng.randint(2, 12)), (queue * 0.6, 1)))
    if outcome == "queued":
        return steps
    steps += tg_start(queue, validation=False, wandb=rng.random() < 0.5)
    if outcome == "user_error":
        message = "Training data validation failed: line 12 of the file is not valid JSON."
        return [*steps, _tg_end(queue + 35, "user_error", "JOB_USER_ERROR", message)]
    trains = queue + 40
    plan = partial(tg_train, trains, epoch_seconds=epoch_seconds, steps_per_epoch=per_epoch,
                   price_per_epoch=price)  # fmt: skip
    if outcome in ("error", "cancelled"):
        steps += plan(epochs=epochs + 1, until_epoch=1)
        stop = trains + epoch_seconds + 300
        if outcome == "cancelled":
            return steps + tg_stop(stop, cancel=TG_USER_CANCEL)
        message = "Internal error on the training node."
        return [*steps, _tg_end(stop, "error", "JOB_ERROR", message)]
    steps += plan(epochs=epochs)
    end = trains + epochs * epoch_seconds
    return steps + tg_wrap_up(end, total_steps=epochs * per_epoch, price_usd=price * epochs)


def _openai(rng: random.Random, outcome: str, queue: float) -> list[Step]:
    total = rng.choice((30, 60, 120, 300))
    step_seconds = rng.uniform(4, 12)
    every = max(1, total // 6)
    if outcome == "user_error":
        message = "The job failed due to an invalid training file. Example 3 has no answer."
        return [
            *oa_intake(0, validation=False, queued_after=None),
            _oa_failed(25, "invalid_training_file", "training_file", message),
        ]
    steps = oa_intake(0, validation=False, queued_after=40)
    if outcome == "queued":
        return steps
    if outcome in ("error", "cancelled"):
        half = total // 2
        steps += oa_start(queue, eta_in=total * step_seconds)
        loss = loss_curve("synthetic", total)
        steps += oa_metrics(queue, first=1, last=half, total=total, step_seconds=step_seconds,
                            loss=loss, every=every)  # fmt: skip
        end = queue + half * step_seconds + 30
        if outcome == "error":
            message = "The job failed due to an internal error."
            return [*steps, _oa_failed(end, "server_error", None, message)]
        done = {"finished_at": NOW, "eta_in": None}
        return [*steps, Step(at=end, status="cancelled", event=OA_CANCELLED, fields=done)]
    tokens = total * rng.randint(800, 3000)
    return steps + oa_run(queue, total=total, step_seconds=step_seconds, every=every,
                          trained_tokens=tokens)  # fmt: skip


def churn(
    world: World, mat: Materializer, now: float, fraction: float, rng: random.Random
) -> dict[str, Any]:
    """Move `fraction` of the unfinished jobs one scripted step forward to `now`; add a few
    new submissions (about a tenth as many). Callers hold `world.lock`."""
    candidates = [
        job
        for job in world.jobs.values()
        if job.created_t <= now and job.pending_steps(now) and not job.paused_t
    ]
    chosen = rng.sample(candidates, min(len(candidates), math.ceil(fraction * len(candidates))))
    for job in chosen:
        rest = job.drop_after(now)
        for step in mat.retimed(rest, now - rest[0].t):
            job.insert(step)
    fresh: list[Job] = []
    providers: tuple[Provider, ...] = ("together", "openai")
    for provider in providers:
        have = sum(1 for j in world.jobs.values() if j.provider == provider)
        if have:
            extra = math.ceil(fraction * have / 10)
            fresh += [new_job(mat, provider, rng, now, fresh=True) for _ in range(extra)]
    world.add(fresh)
    world.touch()
    return {"changed": [j.id for j in chosen], "new": [j.id for j in fresh]}

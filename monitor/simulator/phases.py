"""What the phase builders of both providers share: loss curves and the log lines the
simulator also writes on its own (API cancel, pause, resume).

Lines no source shows (cancel, stop, billing, restart, refund, pause) are the simulator's
own wording; a monitor should match those on type, not wording.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from .script import Ev

NANO = 1_000_000_000
LossFn = Callable[[int], float]

# Lines the simulator also writes on its own (API cancel/pause/resume).
TG_USER_CANCEL = Ev(type="CANCEL_REQUESTED", message="Cancellation requested by user")
TG_STOPPED = Ev(type="JOB_STOPPED", message="Job stopped at {ctime}")
OA_CANCELLED = Ev(type="message", level="info", message="Fine-tuning job cancelled")
OA_PAUSED = Ev(type="message", level="info", message="Fine-tuning job paused")
OA_RESUMED = Ev(type="message", level="info", message="Fine-tuning job resumed")
OA_STARTED = Ev(type="message", level="info", message="Fine-tuning job started")


def loss_curve(seed: str, total: int) -> LossFn:
    """A smooth, slightly noisy, decreasing training loss for steps 1..total."""
    phase = sum(map(ord, seed)) % 97

    def loss(step: int) -> float:
        noise = math.sin(step * 12.9898 + phase * 78.233) * 0.035
        return round(0.12 + 1.9 * math.exp(-4.0 * step / total) + noise, 6)

    return loss


def nan_after(step: int, total: int) -> LossFn:
    """A normal curve whose loss is NaN after `step`: a run that diverged."""
    curve = loss_curve("nan", total)
    return lambda n: math.nan if n > step else curve(n)


def accuracy(loss: float) -> float:
    return loss if math.isnan(loss) else round(max(0.3, 1.0 - loss * 0.22), 6)

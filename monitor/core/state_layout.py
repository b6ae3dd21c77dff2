"""Job states stored before the nested layout (schema 5 and earlier), read as today's.

Before schema 7 (SQLite; 5 on PostgreSQL) a `JobState` was one flat record of 49
fields, with facts such as `paused:1` and `loss_spike:120` as bare strings. Those rows
stay in state files and databases until the job's state is next written (a settled
job's never is), so they are regrouped on reading: the same knowledge under the new
names. Pure.
"""

from __future__ import annotations

from typing import Any

# new group -> {new field: old flat field}
FLAT_NAMES: dict[str, dict[str, str]] = {
    "log": {
        "seen_keys": "seen_keys",
        "floor": "seen_floor",
        "last_key": "last_event_key",
        "recent": "recent_events",
    },
    "loss": {"recent": "losses", "checked_step": "loss_step"},
    "restart": {
        "of": "restart_of",
        "successor": "restarted_as",
        "awaiting_since": "awaiting_restart_since",
    },
    "progress": {
        "at": "last_progress_at",
        "step": "last_step",
        "total_steps": "total_steps",
        "epochs": "epochs_completed",
        "n_epochs": "n_epochs",
        "queue_depth": "queue_depth",
        "training_started_at": "training_started_at",
        "eta": "eta",
        "epoch_eta": "epoch_eta",
    },
    "marks": {
        "snapshot": "snapshot_mark",
        "observed_at": "observed_at",
        "log_read_at": "log_read_at",
        "log_spacing": "event_spacing",
        "losses_read_at": "losses_read_at",
        "losses_missing": "losses_missing",
        "losses_retry_at": "losses_retry_at",
        "progress_read_at": "progress_read_at",
    },
}


def nest_flat_state(flat: dict[str, Any]) -> dict[str, Any]:
    """A flat stored state as the nested one: groups filled, counted facts split out."""
    moved = {old for fields in FLAT_NAMES.values() for old in fields.values()}
    nested = {key: value for key, value in flat.items() if key not in moved}
    for group, fields in FLAT_NAMES.items():
        nested[group] = {new: flat[old] for new, old in fields.items() if old in flat}
    facts: list[str] = []
    pauses = resumes = 0
    spikes: list[str] = []
    for fact in flat.get("facts") or ():
        name, _, arg = str(fact).partition(":")
        if name == "paused":
            pauses = max(pauses, _count(arg))
        elif name == "resumed":
            resumes = max(resumes, _count(arg))
        elif name == "loss_spike":
            spikes.append(arg)
        else:
            facts.append(fact)
    nested.update(facts=facts, pauses=pauses, resumes=resumes)
    nested["loss"]["spiked_steps"] = spikes
    return nested


def _count(text: str) -> int:
    return int(text) if text.isdigit() else 0

"""Where a ftmon process's CPU goes, by phase: a py-spy sample profile summarised.

py-spy samples the process from outside (no instrumentation, no change to its timing),
here 200 stacks a second as collapsed lines (`frame;frame;… count`, each frame
`function (file:line)`). Each stack is given to one phase:

- idle: the event loop waiting in `select`, or a worker thread waiting for work (py-spy
  counts some of these waits as running); reported, but not part of the shares;
- imports and config: any stack inside an import (start-up, or a module imported late,
  such as apprise's plugins before the first send) or reading the config;
- a commit, a state load or a delivery: everything beneath it (encoding the states it
  writes, decoding those it reads, rendering a message);
- otherwise the innermost frame a rule names (a list parsed as it arrives runs inside
  its HTTP read, and counts as parsing).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from bench import heavy

IDLE, IMPORTS, OTHER = "idle", "imports and config", "other"

# The running frame of an idle stack, (function's own name, file substring): the loop's
# `select`, a worker thread waiting for work (in C, under `_worker`).
_WAITS = (("select", "selectors.py"), ("_worker", "concurrent/futures/thread.py"))

# Phases that own everything beneath them, in this order (phase, file substring, prefixes
# of the function's own name): a commit encodes states, a load decodes them, a delivery
# renders and reads the outbox.
CONTAINING: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("commit", "monitor/storage/", ("commit",)),
    ("state load", "monitor/storage/", ("load", "_load", "read", "_read", "open", "_open")),
    ("delivery", "monitor/delivery/", ("",)),
)
# Otherwise the innermost frame a rule names: a list parsed as it arrives runs inside its
# HTTP read, and counts as parsing.
INNERMOST: tuple[tuple[str, str, str], ...] = (
    ("parsing", "monitor/providers/_list_reader", ""),
    ("parsing", "monitor/providers/_stream", ""),
    ("parsing", "monitor/providers/_repeats", ""),
    ("parsing", "monitor/providers/", "parse_"),
    ("parsing", "monitor/providers/http_client", "decode_json"),
    ("HTTP", "monitor/providers/http_client", ""),
    ("HTTP", "monitor/providers/_pool", ""),
    ("HTTP", "monitor/providers/_mask", ""),
    ("HTTP", "httpcore/", ""),
    ("HTTP", "h11/", ""),
    ("HTTP", "httpx/", ""),
    ("HTTP", "asyncio/selector_events", ""),  # the loop reading and writing sockets
    ("HTTP", "anyio/_backends/_asyncio", "data_received"),
    ("diff", "monitor/core/", ""),  # the per-job core: quiet check, diff, settle, plans
    ("diff", "monitor/app/poll_guard", ""),
    ("delivery", "apprise/", ""),  # a send, in a worker thread
    ("logging", "structlog/", ""),
    ("logging", "/logging/", ""),
)
# Where no frame is named above and the running one is asyncio's: the loop itself,
# running callbacks and tasks.
LOOP = "asyncio/"
PHASES = (
    "HTTP",
    "parsing",
    "diff",
    "commit",
    "state load",
    "delivery",
    "logging",
    "event loop",
    IMPORTS,
)


def _split(frame: str) -> tuple[str, str]:
    """`function (file:line)` -> (function, file)."""
    function, _, where = frame.partition(" (")
    return function, where.rsplit(":", 1)[0]


def phase_of(stack: list[str]) -> str:
    """The phase of one sampled stack, outermost frame first."""
    # each frame as (the function's own name, its file)
    names = [(function.rpartition(".")[2], file) for function, file in map(_split, stack)]
    if not names:
        return OTHER
    running, file = names[-1]
    if any(running == name and part in file for name, part in _WAITS):
        return IDLE
    if any("importlib._bootstrap" in file or "monitor/config/" in file for _, file in names):
        return IMPORTS
    for phase, part, prefixes in CONTAINING:
        if any(part in file and name.startswith(prefixes) for name, file in names):
            return phase
    for name, file in reversed(names):
        for phase, part, prefix in INNERMOST:
            if part in file and name.startswith(prefix):
                return phase
    return "event loop" if LOOP in names[-1][1] else OTHER


@dataclass(frozen=True)
class Profile:
    """Samples by phase, taken at `RATE` a second over `cycles` poll cycles."""

    samples: Counter[str]
    cycles: float
    unnamed: Counter[str]  # the running frames of the stacks left as "other"

    @classmethod
    def parse(cls, lines: Iterable[str], cycles: float) -> Profile:
        samples, unnamed = Counter[str](), Counter[str]()
        for line in lines:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if stack and count.isdigit():
                frames = stack.split(";")
                phase = phase_of(frames)
                samples[phase] += int(count)
                if phase == OTHER:
                    function, file = _split(frames[-1])
                    unnamed[f"{function} ({file.rpartition('site-packages/')[2]})"] += int(count)
        return cls(samples, cycles, unnamed)

    def busy(self) -> int:
        return sum(n for phase, n in self.samples.items() if phase != IDLE)

    def share(self, phase: str) -> float:
        return self.samples[phase] / self.busy() if self.busy() else 0.0

    def per_cycle(self, phase: str | None = None) -> float:
        """Sampled seconds a cycle, of one phase or of all but idle."""
        n = self.busy() if phase is None else self.samples[phase]
        return n / RATE / max(1.0, self.cycles)


def table(profiles: dict[str, Profile]) -> str:
    """A column per profiled process: each phase's share of its busy samples and its
    sampled seconds per cycle."""
    names = list(profiles)
    lines = [
        "| phase | " + " | ".join(f"{n}: share (s / cycle)" for n in names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for phase in (*PHASES, OTHER):
        cells = [f"{p.share(phase):5.1%} ({p.per_cycle(phase):.2f} s)" for p in profiles.values()]
        lines.append(f"| {phase} | " + " | ".join(cells) + " |")
    totals = [f"{p.per_cycle():.2f} s over {p.cycles:.1f} cycle(s)" for p in profiles.values()]
    lines.append("| sampled busy | " + " | ".join(totals) + " |")
    for name, profile in profiles.items():
        top = ", ".join(f"{frame} {n}" for frame, n in profile.unnamed.most_common(5))
        lines.append(f"\n{name}, the most sampled frames left as {OTHER}: {top or 'none'}")
    return "\n".join(lines)


# -- recording ---------------------------------------------------------------------------

RATE = 200  # samples a second


def _record(out: Path, *target: str) -> list[str]:
    here = Path(sys.executable).with_name("py-spy")
    spy = str(here) if here.exists() else (shutil.which("py-spy") or "py-spy")
    rate = str(RATE)
    return [
        spy,
        "record",
        "--rate",
        rate,
        "--format",
        "raw",
        "--nonblocking",
        "-o",
        str(out),
        *target,
    ]


def profile_daemon(load: heavy.Workload) -> Profile:
    """py-spy attached to `ftmon run` from the end of its first poll for `load.seconds`."""
    with tempfile.TemporaryDirectory(prefix="ftmon-phases-") as tmp:
        out = Path(tmp) / "daemon.txt"
        spies: list[subprocess.Popen[bytes]] = []
        window = max(10, int(load.seconds) - 10)  # over before the daemon is stopped

        def attach(pid: int) -> None:
            command = _record(out, "--pid", str(pid), "--duration", str(window))
            spies.append(
                subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            )

        run = heavy.run_daemon(load, on_steady=attach)
        for spy in spies:
            _finished(spy, out)
        steady = (len(run.cycles) - 1) * window / load.seconds  # the cycles in the window
        return Profile.parse(out.read_text().splitlines(), steady)


def profile_once(load: heavy.Workload) -> Profile:
    """py-spy running the second `ftmon run --once` (the first starts from empty)."""
    with tempfile.TemporaryDirectory(prefix="ftmon-phases-") as tmp:
        out = Path(tmp) / "once.txt"
        heavy.run_once(replace(load, once_runs=1), wrap=lambda n: _record(out, "--") if n else ())
        if not out.exists():
            raise SystemExit(f"py-spy wrote no profile of run --once ({out})")
        return Profile.parse(out.read_text().splitlines(), 1)


def _finished(spy: subprocess.Popen[bytes], out: Path) -> None:
    """Wait for py-spy; say why when it could not attach (not root, and ptrace limited by
    `kernel.yama.ptrace_scope`)."""
    _, errors = spy.communicate(timeout=60)
    if spy.returncode != 0 or not out.exists():
        said = errors.decode(errors="replace").strip()[-500:]
        raise SystemExit(f"py-spy could not profile the daemon (exit {spy.returncode}): {said}")


def main() -> None:
    """`python -m bench.phases [SECONDS]`: the heavy case's profile by phase (as root, or
    where py-spy may attach to a process it did not start: the daemon's profile attaches
    after the first poll)."""
    load = heavy.Workload()
    if len(sys.argv) > 1:
        load = replace(load, seconds=float(sys.argv[1]))
    print(f"The heavy case, by phase: {load.describe()}.")
    print(table({"daemon": profile_daemon(load), "run --once": profile_once(load)}))


if __name__ == "__main__":
    main()

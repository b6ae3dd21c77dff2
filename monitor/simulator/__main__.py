"""`python -m monitor.simulator`: serve the simulator until SIGTERM or SIGINT.

Prints one line, `SIMULATOR_URL=http://127.0.0.1:PORT/v1`, once it is listening.
Without `--real-time` the clock stands still and moves through `POST /_sim/advance`.
"""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Sequence
from types import FrameType

from .clock import Clock, RealClock
from .scenarios import SCENARIOS
from .simulator import Simulator


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m monitor.simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument(
        "--scenario",
        action="extend",
        nargs="+",
        default=[],
        choices=sorted(SCENARIOS),
        metavar="NAME",
        help="start these scenarios (repeatable)",
    )
    parser.add_argument("--all", action="store_true", help="start every scenario")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="compress scenario scripts (0.01: two hours in 72 s)",
    )
    parser.add_argument("--synthetic-together", type=int, default=0, metavar="N")
    parser.add_argument("--synthetic-openai", type=int, default=0, metavar="N")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per request")
    parser.add_argument(
        "--real-time", action="store_true", help="simulated time follows the wall clock (x --speed)"
    )
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--seed", default="0")
    parser.add_argument(
        "--lowercase-events",
        action="store_true",
        help="Together event types in the OpenAPI spelling",
    )
    parser.add_argument("--together-key", default="sim-together-key")
    parser.add_argument("--openai-key", default="sim-openai-key")
    parser.add_argument("--webhook-url", help="send OpenAI webhooks here (see webhooks.py)")
    parser.add_argument("--webhook-secret", help="their signing secret (whsec_...)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    clock: Clock | None = RealClock(args.speed) if args.real_time else None
    sim = Simulator(
        host=args.host,
        port=args.port,
        clock=clock,
        latency=args.latency,
        seed=args.seed,
        together_key=args.together_key,
        openai_key=args.openai_key,
        together_event_casing="lower" if args.lowercase_events else "upper",
    )
    if args.webhook_url:
        sim.webhooks.configure(args.webhook_url, args.webhook_secret)
    names = sorted(SCENARIOS) if args.all else args.scenario
    for name in names:
        sim.add_scenario(name, time_scale=args.time_scale)
    if args.synthetic_together:
        sim.add_synthetic("together", args.synthetic_together)
    if args.synthetic_openai:
        sim.add_synthetic("openai", args.synthetic_openai)

    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with sim:
        print(f"SIMULATOR_URL={sim.base_url}", flush=True)
        while not stopping.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

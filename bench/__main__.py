"""`python -m bench [--quick]`: run the benchmark sections and print their tables.

python -m bench                 the full run (about 10 minutes on 2 cores)
python -m bench --quick         smaller workloads, about four minutes
python -m bench --only latency  one section (repeatable)
python -m bench --only webhooks OpenAI endings at a 60 s poll: webhooks against polling
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import coldstart, cycles, heavy, latency, report

SECTIONS = ("cycles", "scale", "latency", "webhooks", "coldstart", "once", "heavy")
DEFAULT = SECTIONS[:-1]  # the heavy case (issue 17) takes about eight minutes: --only heavy


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small workloads (about four minutes)")
    parser.add_argument("--only", action="append", choices=SECTIONS, help="run only these")
    parser.add_argument("--jobs", type=int, help="jobs for the cycle comparison (1000)")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per request")
    parser.add_argument("--cycles", type=int, help="steady ftmon cycles after warm-up (5)")
    parser.add_argument("--sdk-cycles", type=int, default=1, help="SDK loop cycles (1)")
    parser.add_argument("--churn", type=float, default=0.05, help="fraction churned per cycle")
    parser.add_argument(
        "--advance",
        type=float,
        default=60.0,
        help="simulated seconds per cycle for the progressing run (0: skip it)",
    )
    parser.add_argument("--scale-jobs", type=int, help="jobs for the scale run (10000)")
    parser.add_argument("--interval", type=int, default=5, help="daemon poll interval, s")
    parser.add_argument("--latency-seconds", type=float, help="how long to make changes (60)")
    parser.add_argument(
        "--webhook-interval", type=int, default=60, help="poll interval of the webhooks run, s"
    )
    parser.add_argument(
        "--webhook-seconds", type=float, help="how long each webhooks run makes changes (120)"
    )
    parser.add_argument("--cold-runs", type=int, help="run --once repetitions (5)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    quick = args.quick
    args.jobs = args.jobs or (200 if quick else 1000)
    args.cycles = args.cycles or (3 if quick else 5)
    args.scale_jobs = args.scale_jobs or (2000 if quick else 10_000)
    args.latency_seconds = args.latency_seconds or (20.0 if quick else 60.0)
    args.webhook_seconds = args.webhook_seconds or (40.0 if quick else 120.0)
    args.cold_runs = args.cold_runs or (3 if quick else 5)
    args.only = args.only or list(DEFAULT)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    out: dict[str, Any] = {"machine": report.machine(), "args": vars(args) | {"json": None}}
    print(f"Machine: {out['machine']}\n", flush=True)
    ftmon = sdk = scale = None
    lat = cold = None
    pushed: tuple[latency.Latency, latency.Latency] | None = None
    if "cycles" in args.only:
        with cycles.scale_sim(args.jobs, args.latency, args.seed) as sim:
            sdk = cycles.run_sdk(sim, cycles=args.sdk_cycles)
            ftmon = cycles.run_ftmon(sim, cycles=args.cycles, churn=args.churn, advance=0)
            print(
                report.cycles_table(
                    ftmon, sdk, jobs=args.jobs, latency=args.latency, churn=args.churn
                ),
                flush=True,
            )
            if args.advance:
                moving = cycles.run_ftmon(
                    sim, cycles=args.cycles, churn=args.churn, advance=args.advance
                )
                print("\n" + report.progress_table(moving, advance=args.advance), flush=True)
                out["progressing"] = summary(moving)
        out["ftmon"], out["sdk"] = summary(ftmon), summary(sdk)
    if "scale" in args.only:
        with cycles.scale_sim(args.scale_jobs, args.latency, args.seed) as sim:
            scale = cycles.run_ftmon(sim, cycles=args.cycles, churn=args.churn, advance=0)
        print("\n" + report.scale_table(scale, jobs=args.scale_jobs, latency=args.latency))
        out["scale"] = summary(scale)
    if "latency" in args.only:
        lat = latency.measure(
            jobs=args.jobs,
            latency=args.latency,
            interval=args.interval,
            seconds=args.latency_seconds,
            seed=args.seed,
        )
        print("\n" + report.latency_table(lat), flush=True)
        out["latency"] = asdict(lat)
    if "webhooks" in args.only:
        runs = [
            latency.measure(
                jobs=args.jobs,
                latency=args.latency,
                interval=args.webhook_interval,
                seconds=args.webhook_seconds,
                seed=args.seed,
                only="openai",
                webhooks=hooked,
                gap=(3.2, 5.0),
            )
            for hooked in (True, False)
        ]
        pushed = (runs[0], runs[1])
        print("\n" + report.webhooks_table(*pushed), flush=True)
        out["webhooks"] = {"with": asdict(runs[0]), "without": asdict(runs[1])}
    if "coldstart" in args.only:
        cold = coldstart.measure(
            jobs=100, latency=args.latency, runs=args.cold_runs, seed=args.seed
        )
        print("\n" + report.coldstart_table(cold, jobs=100), flush=True)
        out["coldstart"] = asdict(cold)
    both = None
    if "once" in args.only:
        with cycles.scale_sim(args.jobs, args.latency, args.seed) as sim:
            sdk_wall = sdk.avg("wall") if sdk is not None else None
            if sdk_wall is None:  # the same jobs as the cycles section's SDK loop read
                sdk_wall = cycles.run_sdk(sim, cycles=1).avg("wall")
            both = coldstart.side_by_side(sim, sdk_wall, jobs=args.jobs, runs=args.cold_runs)
        print("\n" + report.side_by_side_table(both), flush=True)
        out["once"] = asdict(both)
    if "heavy" in args.only:
        load = heavy.Workload(latency=args.latency, seed=args.seed)
        load = load.quick() if args.quick else load
        runs = heavy.run_daemon(load), heavy.run_once(load)
        print("\n" + heavy.table(load, *runs), flush=True)
        out["heavy"] = {"daemon": heavy.summary(runs[0]), "once": heavy.summary(runs[1])}
    print("\n" + report.targets(ftmon, sdk, scale, lat, cold, both, pushed))
    print(f"\nBenchmark took {time.monotonic() - started:,.0f} s.")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=str) + "\n")
    return 0


def summary(run: cycles.Run) -> dict[str, Any]:
    return {
        "requests": run.avg("requests"),
        "bytes": run.avg("bytes"),
        "wall": run.avg("wall"),
        "cpu": run.avg("cpu"),
        "maxrss_mib": run.maxrss_mib,
        "floor": run.avg_floor() if run.warmup is not None else None,
        "per_cycle": [
            {
                "requests": c.requests,
                "bytes": c.bytes,
                "wall": c.wall,
                "cpu": c.cpu,
                "floor": c.floor.requests if c.floor else None,
                "deferred": c.deferred,
                "unchanged_reads": c.unchanged_reads,
                "routes": c.routes,
            }
            for c in run.steady
        ],
    }


if __name__ == "__main__":
    sys.exit(main())

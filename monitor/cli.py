"""ftmon's command line: run | run --once | check-config | test-notify | status | cost | explain |
demo.

Exit codes (DESIGN section 6): `run --once` returns 2 if a failure alert was raised, else
3 if a provider could not be polled, else 1 if a warning was raised, else 0. A
configuration error exits 78 (EX_CONFIG) from every command.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import anyio
import structlog

from monitor import config as config_mod
from monitor.app import heap, logs, wiring
from monitor.core.durations import DurationError, parse_duration
from monitor.core.errors import ConfigError, StoreError
from monitor.core.redact import REDACTOR
from monitor.core.settings import Config, LogFormat
from monitor.core.text import one_line
from monitor.delivery import bounded

# Imported where they are used, so each command loads only what it needs: channels
# (apprise), dispatch, daemon (apscheduler, prometheus-client), status, test_notify, demo.

EX_CONFIG = 78
EX_SOFTWARE = 70  # an internal error; distinct from run --once's 1/2/3
ONCE_DRAIN_SECONDS = 60.0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ftmon",
        description="Watch fine-tuning jobs on Together AI and OpenAI and alert people.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="poll, diff and deliver until SIGTERM (or one cycle)")
    run.add_argument("-c", "--config", type=Path, help="config file")
    run.add_argument("--once", action="store_true", help="one cycle, deliver, exit")
    run.add_argument("--json", action="store_true", help="with --once: a JSON summary")

    check = sub.add_parser("check-config", help="validate and print the resolved config")
    check.add_argument("-c", "--config", type=Path, help="config file")

    notify = sub.add_parser("test-notify", help="send a realistic sample alert")
    notify.add_argument("-c", "--config", type=Path, help="config file")
    notify.add_argument("--channel", help="only this channel")
    notify.add_argument("--kind", default="job.failed", help="alert kind to sample")
    notify.add_argument(
        "--job", help="send nothing: show which routes and channels this job's alerts reach"
    )
    notify.add_argument(
        "--metadata",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="send nothing: show where a sample job with this metadata goes (repeatable)",
    )

    status = sub.add_parser("status", help="tracked jobs and the outbox")
    status.add_argument("-c", "--config", type=Path, help="config file")
    status.add_argument("--json", action="store_true", help="machine-readable output")

    cost = sub.add_parser("cost", help="the cost ledger: prices, refunds, net, by group")
    cost.add_argument("-c", "--config", type=Path, help="config file")
    cost.add_argument("--since", default="7d", help="jobs submitted this long ago (default 7d)")
    cost.add_argument("--by", choices=("provider", "model", "day"), default="provider")
    cost.add_argument("--json", action="store_true", help="machine-readable output")

    explain = sub.add_parser("explain", help="the story of one job or restart chain")
    explain.add_argument("job", help="job id (tracked, or fetched once from the providers)")
    explain.add_argument("-c", "--config", type=Path, help="config file")
    explain.add_argument("--json", action="store_true", help="machine-readable output")

    state = sub.add_parser("state", help="move the state between backends")
    state_sub = state.add_subparsers(dest="state_command", required=True, metavar="ACTION")
    copy = state_sub.add_parser(
        "copy", help="copy a SQLite state file into the (empty) PostgreSQL state of the config"
    )
    copy.add_argument("--from", dest="source", type=Path, required=True, help="SQLite file")
    copy.add_argument("-c", "--config", type=Path, help="config file")

    demo = sub.add_parser("demo", help="the whole pipeline against the built-in simulator")
    demo.add_argument(
        "--notify",
        action="append",
        default=[],
        metavar="URL",
        help="also deliver to this apprise URL (repeatable)",
    )
    return parser


def main(argv: Sequence[str] | None = None, *, seams: wiring.Seams | None = None) -> int:
    """The `ftmon` command; a test entry point may pass `seams` (see `wiring.Seams`).

    When a send to a channel was abandoned (a receiver that never finished answering),
    the process ends here, at once: the interpreter would otherwise wait at exit for
    apprise's worker thread, i.e. for as long as the receiver likes.
    """
    code = _main(argv, seams)
    if bounded.abandoned():
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(code)
    return code


def _main(argv: Sequence[str] | None, seams: wiring.Seams | None) -> int:
    args = build_parser().parse_args(argv)
    try:
        try:
            # Before any config is read, so every line of every command is rendered alike;
            # `run` and `test-notify` set it up again with the config's format and secrets.
            logs.configure(LogFormat.AUTO, level=logs.level_from(os.environ))
            return _dispatch(args, seams or wiring.Seams())
        except BaseExceptionGroup as group:  # from tasks run at once (providers polled together)
            raise _sole(group) from None
    except ConfigError as exc:
        print(f"ftmon: configuration error: {exc}", file=sys.stderr)
        return EX_CONFIG
    except StoreError as exc:
        print(f"ftmon: state database error: {REDACTOR(str(exc))}", file=sys.stderr)
        return EX_SOFTWARE
    except Exception as exc:  # the boundary: never exit 1, which means "a warning was raised"
        structlog.get_logger("ftmon").exception("internal_error")  # redacted like every log
        print(f"ftmon: internal error: {REDACTOR(repr(exc))}", file=sys.stderr)
        return EX_SOFTWARE


def _warn_loose_secret_files(cfg: Config) -> None:
    for path, mode in config_mod.loose_secret_files(cfg):
        structlog.get_logger("ftmon").warning("secret_file_readable", file=path, mode=mode)


def _sqlite_only(cfg: Config, command: str) -> None:
    """Commands that read a SQLite state file only (not yet a shared PostgreSQL one)."""
    if cfg.monitor.database is not None:
        raise ConfigError(
            str(cfg.file),
            "monitor.state",
            f"`ftmon {command}` reads a SQLite state file; it does not read a PostgreSQL "
            "state yet (`ftmon status` does)",
        )


MAX_SINCE = timedelta(days=36500)


def _since(text: str) -> timedelta:
    """`--since`: a duration like `7d`, at most a century (a longer one would reach before
    year 1); anything else is a usage error (exit 2)."""
    try:
        since = parse_duration(text)
    except DurationError as exc:
        build_parser().error(f"--since: {exc}")
        raise  # not reached: error() exits
    if since > MAX_SINCE:
        build_parser().error(f"--since: expected at most 36500d (a century), got {text!r}")
    return since


def _sole(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one error inside (nested) groups, so it is reported as itself; else the group."""
    inner: BaseException = group
    while isinstance(inner, BaseExceptionGroup) and len(inner.exceptions) == 1:
        inner = inner.exceptions[0]
    return inner


def _dispatch(args: argparse.Namespace, seams: wiring.Seams) -> int:
    if args.command == "check-config":
        from monitor.delivery.channels import build_channels, privacy_url

        cfg = config_mod.load(args.config, os.environ)
        build_channels(cfg.channels, cfg.file)  # a URL apprise cannot use is a config error
        print(config_mod.describe(cfg, mask_url=privacy_url))
        for path, mode in config_mod.loose_secret_files(cfg):
            print(f"ftmon: warning: {path} ({mode}) is readable by others", file=sys.stderr)
        return 0
    if args.command == "run":
        cfg = config_mod.load(args.config, os.environ)
        logs.configure_for(cfg, os.environ)
        _warn_loose_secret_files(cfg)
        if args.once:
            return anyio.run(_run_once, cfg, args.json, seams)
        from monitor.app.daemon import Daemon

        heap.map_large_blocks()  # a long-lived process: each poll's memory given back

        daemon = Daemon(cfg, config_path=args.config, env=os.environ, seams=seams)
        return anyio.run(daemon.run)
    if args.command == "test-notify":
        cfg = config_mod.load(args.config, os.environ)
        logs.configure_for(cfg, os.environ)
        if args.job is not None or args.metadata:
            from monitor.commands import route_preview

            _sqlite_only(cfg, "test-notify --job")
            return route_preview.preview(
                cfg,
                cfg.monitor.state,
                seams.clock(),
                job=args.job,
                metadata=args.metadata,
            )
        from monitor.commands import test_notify

        return anyio.run(test_notify.test_notify, cfg, cfg.monitor, args.channel, args.kind)
    if args.command == "status":
        from monitor.commands import status

        cfg = config_mod.load(args.config, os.environ)
        REDACTOR.register(s.reveal() for s in cfg.secrets())
        print(status.report(cfg, seams.clock(), as_json=args.json))
        return 0
    if args.command == "cost":
        from monitor.commands import cost

        since = _since(args.since)
        cfg = config_mod.load(args.config, os.environ)
        REDACTOR.register(s.reveal() for s in cfg.secrets())
        print(cost.report(cfg, seams.clock(), since=since, by=args.by, as_json=args.json), end="")
        return 0
    if args.command == "explain":
        from monitor.commands import explain

        cfg = config_mod.load(args.config, os.environ)
        REDACTOR.register(s.reveal() for s in cfg.secrets())
        _sqlite_only(cfg, "explain")
        return explain.main(cfg, seams.clock(), args.job, as_json=args.json)
    if args.command == "state":
        from monitor.commands import state_copy

        cfg = config_mod.load(args.config, os.environ)
        return state_copy.main(cfg, args.source)
    if args.command == "demo":
        from monitor.commands import demo  # the simulator is loaded only for the demo

        return demo.main(args.notify)
    raise AssertionError(args.command)


async def _run_once(cfg: Config, as_json: bool, seams: wiring.Seams) -> int:
    """One cycle for every provider, then deliver what it (and earlier runs) left."""
    from monitor.delivery import loop
    from monitor.delivery.dispatch import Dispatcher
    from monitor.delivery.lazy import checked_lazy_channels

    clock = seams.clock
    runtime = wiring.open_runtime(cfg, clock, connect=seams.connect)
    try:
        # apprise is loaded only to validate a channel set not seen before (a URL it cannot
        # use: exit 78 before anything is polled) or to send.
        channels = checked_lazy_channels(cfg.channels, cfg.file, runtime.store)
        report = await wiring.poll_all(runtime)
        dispatcher = Dispatcher(
            runtime.store,
            channels,
            cfg.routes,
            clock,
            label_metadata=cfg.monitor.label_metadata,
            incidents=cfg.incidents,
        )
        report.delivery = await loop.drain(dispatcher, ONCE_DRAIN_SECONDS)
        runtime.store.prune_if_due(clock(), {p.name: p.lookback for p in cfg.providers})
    finally:
        await runtime.aclose()
    if as_json:
        print(REDACTOR(json.dumps(report.summary(cfg.monitor.label_metadata))))  # one line
    else:
        for alert in report.alerts:
            about = f"{alert.provider} {alert.job_id or '-'}: {alert.summary}"
            print(REDACTOR(f"{alert.severity:<8} {one_line(about)}"))
            if alert.hint:
                print(f"         next step: {alert.hint}")
            print(f"         {alert.label_line(cfg.monitor.label_metadata)}")
    return report.exit_status

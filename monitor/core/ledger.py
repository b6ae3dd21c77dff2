"""The cost ledger: each job's price as its provider states it, refunds, net, never guessed.

One `Entry` per job, written by the store in the same transaction as the job's state
(`entry`), so it outlives the state's retention and a re-poll rewrites the same row.

How a job's money is counted (`amounts`):
- the charge is the price the provider states (`JobSnapshot.price_usd`, as the provider
  module reads it; on a cancellation, the price then stated for the steps that ran). A
  job whose provider states none (one that gives only billed tokens, `trained_tokens`) is
  "price not given", never a price made up from tokens;
- a refund is stated by a refund line with an amount, by the provider lowering the job's
  price, or both. The job's net is the lower of its latest price and its highest price
  less the refund amounts stated, so the same dollars are never taken off twice; the
  refund is what was charged less the net. A refund line with no amount and no lower
  price is counted as "refund amount not given";
- a restart chain (the old job, refunded, and the job the provider started in its place)
  is one piece of work: `work` counts chains, not jobs, and the chain's money is its
  jobs' (the refunded old job nets to what the provider kept, usually nothing).

Every job is dated by its submission (`created_at`): budgets, `--since` and the daily
digest count the jobs submitted in their period, at the prices stated so far.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from monitor.core import codec
from monitor.core.memory import JobState, Refund

NOT_PRICED = "price not given"
CENT = 0.005  # half a cent: amounts are told to the cent


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """What the ledger keeps of one job."""

    provider: str
    job_id: str
    provider_kind: str
    created_at: datetime
    status: str
    model: str | None = None
    price_usd: float | None = None  # the latest price stated
    peak_usd: float | None = None  # the highest price stated
    trained_tokens: int | None = None
    refunds: tuple[Refund, ...] = ()
    restart_of: str | None = None

    def to_json(self) -> str:
        return codec.dumps(self)

    @classmethod
    def from_json(cls, text: str) -> Entry:
        return codec.loads(cls, text)


def entry(state: JobState) -> Entry:
    return Entry(
        provider=state.provider,
        job_id=state.job_id,
        provider_kind=state.kind,
        created_at=state.created_at,
        status=str(state.status),
        model=state.model,
        price_usd=state.price_usd,
        peak_usd=state.peak_price_usd if state.peak_price_usd is not None else state.price_usd,
        trained_tokens=state.trained_tokens,
        refunds=state.refunds,
        restart_of=state.restart.of,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Amounts:
    """One job's money; `priced` False: the provider stated no price (nothing counted)."""

    priced: bool
    charged: float = 0.0
    refunded: float = 0.0
    net: float = 0.0
    refund_unstated: bool = False  # a refund line without an amount, and no lower price


def amounts(e: Entry) -> Amounts:
    stated = sum(r.amount_usd for r in e.refunds if r.amount_usd is not None)
    unstated = any(r.amount_usd is None for r in e.refunds)
    if e.price_usd is None and not stated:
        return Amounts(priced=False, refund_unstated=unstated)
    if not e.refunds:
        price = e.price_usd or 0.0
        return Amounts(priced=True, charged=price, net=price)
    charged = max(e.peak_usd or 0.0, e.price_usd or 0.0, stated)
    ceiling = e.price_usd if e.price_usd is not None else charged
    net = max(0.0, min(ceiling, charged - stated))
    refunded = charged - net
    return Amounts(
        priced=True,
        charged=charged,
        refunded=refunded,
        net=net,
        refund_unstated=unstated and refunded < CENT,
    )


def chain_roots(entries: Iterable[Entry]) -> dict[tuple[str, str], str]:
    """Each job's restart chain, named by its first job (a job no restart links: itself)."""
    parent = {(e.provider, e.job_id): e.restart_of for e in entries}
    roots: dict[tuple[str, str], str] = {}
    for (provider, job_id), before in parent.items():
        root, seen = job_id, {job_id}
        while before is not None and before not in seen:
            root, seen = before, seen | {before}
            before = parent.get((provider, before))
        roots[(provider, job_id)] = root
    return roots


@dataclass(slots=True)
class Line:
    """The money of a group of jobs (a provider, a model, a day, or everything)."""

    key: str
    jobs: int = 0
    charged: float = 0.0
    refunded: float = 0.0
    net: float = 0.0
    unpriced: int = 0
    refund_unstated: int = 0
    trained_tokens: int = 0
    chains: set[tuple[str, str]] = field(default_factory=set)

    @property
    def work(self) -> int:
        """Pieces of work: a restart chain counts once."""
        return len(self.chains)

    @property
    def priced(self) -> bool:
        """Whether there is an amount to state: not when every job here lacks a price (an
        empty line costs $0.00)."""
        return self.jobs > self.unpriced or not self.jobs

    def add(self, e: Entry, root: str) -> None:
        money = amounts(e)
        self.jobs += 1
        self.chains.add((e.provider, root))
        self.trained_tokens += e.trained_tokens or 0
        self.refund_unstated += money.refund_unstated
        if not money.priced:
            self.unpriced += 1
            return
        self.charged += money.charged
        self.refunded += money.refunded
        self.net += money.net

    def to_dict(self) -> dict[str, object]:
        return {
            "key": self.key,
            "work": self.work,
            "jobs": self.jobs,
            "charged_usd": round(self.charged, 2) if self.priced else None,
            "refunded_usd": round(self.refunded, 2) if self.priced else None,
            "net_usd": round(self.net, 2) if self.priced else None,
            "price_not_given": self.unpriced,
            "refund_amount_not_given": self.refund_unstated,
            "trained_tokens": self.trained_tokens,
        }


GROUPS: Mapping[str, Callable[[Entry, tzinfo], str]] = {
    "provider": lambda e, _tz: e.provider,
    "model": lambda e, _tz: e.model or "(model not given)",
    "day": lambda e, tz: e.created_at.astimezone(tz).date().isoformat(),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    lines: tuple[Line, ...]
    total: Line


def summarize(
    entries: Sequence[Entry],
    *,
    since: datetime | None,
    until: datetime | None = None,
    by: str,
    tz: tzinfo,
    providers: Sequence[str] = (),
) -> Report:
    """The jobs submitted in [since, until) (of `providers`; empty: all), grouped `by`."""
    roots = chain_roots(entries)
    group = GROUPS[by]
    lines: dict[str, Line] = {}
    total = Line(key="total")
    for e in sorted(entries, key=lambda e: (e.created_at, e.provider, e.job_id)):
        if since is not None and e.created_at < since:
            continue
        if (until is not None and e.created_at >= until) or (
            providers and e.provider not in providers
        ):
            continue
        root = roots[(e.provider, e.job_id)]
        key = group(e, tz)
        lines.setdefault(key, Line(key=key)).add(e, root)
        total.add(e, root)
    ordered = sorted(lines.values(), key=lambda line: line.key)
    return Report(lines=tuple(ordered), total=total)


def usd(amount: float) -> str:
    return f"${amount:,.2f}"

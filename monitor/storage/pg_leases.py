"""Leader leases in PostgreSQL: one row per provider (holder, epoch, expiry), and the fence.

Every lease statement is one short autocommit statement on the database's clock (`now()`),
so replicas' clocks never have to agree and a transaction-pooling proxy in between is
fine (no session state, no advisory session locks):

    renew:    UPDATE … expires_at = now() + lease  WHERE holder = me AND epoch = mine
              (a new store of the same process, after a reload, adopts its epoch: the
              holder name is unique to a process, and the old generation has stopped)
    take:     INSERT … epoch 1, or UPDATE … epoch = epoch + 1, holder = me
              WHERE the row's expires_at <= now()   (the old leader's lease lapsed)

The fence: every commit of a provider's poll reads the lease row `FOR SHARE` inside its own
transaction and refuses (FencedError) unless the row still carries this replica and the
epoch it took. A takeover's UPDATE waits on that share lock, so a commit either lands
before the takeover (and the new leader reads it) or is refused; a replica paused past its
lease can never write over its successor.
"""

from __future__ import annotations

from datetime import timedelta

from monitor.core.errors import FencedError
from monitor.storage.base import Lease, Replica
from monitor.storage.pg_schema import Conn

_RENEW = """
UPDATE leases SET expires_at = now() + %(lease)s, renewed_at = now()
WHERE provider = %(provider)s AND holder = %(holder)s
  AND (%(epoch)s::bigint IS NULL OR epoch = %(epoch)s)
RETURNING provider, holder, epoch, expires_at
"""
_TAKE = """
INSERT INTO leases AS l (provider, holder, epoch, expires_at, renewed_at)
VALUES (%(provider)s, %(holder)s, 1, now() + %(lease)s, now())
ON CONFLICT (provider) DO UPDATE
SET holder = excluded.holder, epoch = l.epoch + 1, expires_at = excluded.expires_at,
    renewed_at = excluded.renewed_at
WHERE l.expires_at <= now()
RETURNING provider, holder, epoch, expires_at
"""


def lead(
    conn: Conn, provider: str, holder: str, lease: timedelta, epoch: int | None
) -> Lease | None:
    """Renew the lease held at `epoch`, else take it if it lapsed; None: another leads."""
    args = {"provider": provider, "holder": holder, "lease": lease, "epoch": epoch}
    row = conn.execute(_RENEW, args).fetchone()
    if row is None:
        row = conn.execute(_TAKE, args).fetchone()
    if row is None:
        return None
    return Lease(provider=row[0], holder=row[1], epoch=int(row[2]), expires_at=row[3])


def release(conn: Conn, provider: str, holder: str, epoch: int) -> None:
    """Let the lease lapse now (a clean stop): another replica takes over at once."""
    conn.execute(
        "UPDATE leases SET expires_at = now() WHERE provider = %s AND holder = %s AND epoch = %s",
        (provider, holder, epoch),
    )


def check_fence(conn: Conn, provider: str, holder: str, epoch: int | None) -> None:
    """Inside a commit's transaction: refuse unless this replica still holds `epoch`."""
    row = conn.execute(
        "SELECT holder, epoch FROM leases WHERE provider = %s FOR SHARE", (provider,)
    ).fetchone()
    if epoch is None or row is None or row[0] != holder or int(row[1]) != epoch:
        raise FencedError(provider, epoch or 0)


def all_leases(conn: Conn) -> list[Lease]:
    rows = conn.execute(
        "SELECT provider, holder, epoch, expires_at FROM leases ORDER BY provider"
    ).fetchall()
    return [Lease(provider=r[0], holder=r[1], epoch=int(r[2]), expires_at=r[3]) for r in rows]


def announce(conn: Conn, holder: str, note: str) -> None:
    conn.execute(
        "INSERT INTO replicas (holder, started_at, seen_at, note) VALUES (%s, now(), now(), %s) "
        "ON CONFLICT (holder) DO UPDATE SET seen_at = now(), note = excluded.note",
        (holder, note),
    )


def all_replicas(conn: Conn, forget_after: timedelta) -> list[Replica]:
    """Replicas seen within `forget_after` (older rows are deleted: that replica is gone)."""
    conn.execute("DELETE FROM replicas WHERE seen_at < now() - %s", (forget_after,))
    rows = conn.execute(
        "SELECT holder, started_at, seen_at, note FROM replicas ORDER BY started_at"
    ).fetchall()
    return [Replica(holder=r[0], started_at=r[1], seen_at=r[2], note=r[3]) for r in rows]

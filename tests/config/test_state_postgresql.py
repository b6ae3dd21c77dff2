"""Table tests for a PostgreSQL state in the config: the URL, its password (inline, ${ENV}
or a file, never shown), the lease settings, and the mistakes named by key."""

from __future__ import annotations

import tomllib
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.config import describe, parse
from monitor.core.errors import ConfigError
from monitor.core.settings import Config, MonitorSettings

PROVIDER = '[[providers]]\nname = "tg"\nkind = "together"\napi_key = "k"\n'


def load(
    monitor: str, env: dict[str, str] | None = None, files: dict[str, str] | None = None
) -> Config:
    raw = tomllib.loads(f"[monitor]\n{monitor}\n{PROVIDER}")
    known = files or {}

    def read_file(path: str) -> str:
        if path not in known:
            raise FileNotFoundError(2, "No such file or directory", path)
        return known[path]

    return parse(raw, file="ftmon.toml", env=env or {}, read_file=read_file)


@pytest.mark.parametrize(
    ("monitor", "env", "files", "url", "password"),
    [
        ('state = "postgresql://ftmon@db/ftmon"', {}, {}, "postgresql://ftmon@db/ftmon", None),
        (
            'state = "postgresql://ftmon:s3cret-pw@db:5433/ftmon"',
            {},
            {},
            "postgresql://ftmon@db:5433/ftmon",
            "s3cret-pw",
        ),
        (
            'state = "postgres://ftmon:${PGPW}@db/ftmon"',
            {"PGPW": "from-env-pw"},
            {},
            "postgres://ftmon@db/ftmon",
            "from-env-pw",
        ),
        (
            'state = "postgresql://ftmon@db/ftmon"\nstate_password_file = "/run/pw"',
            {},
            {"/run/pw": "file-pw\n"},
            "postgresql://ftmon@db/ftmon",
            "file-pw",
        ),
    ],
)
def test_a_postgresql_state(
    monitor: str, env: dict[str, str], files: dict[str, str], url: str, password: str | None
) -> None:
    cfg = load(monitor, env, files)
    assert cfg.monitor.database == url
    got = cfg.monitor.database_password
    assert (got.reveal() if got else None) == password
    shown = describe(cfg)
    assert url in shown
    if password:
        assert password not in shown
        assert password not in repr(cfg)


def test_sqlite_stays_the_default_with_lease_defaults() -> None:
    cfg = load('state = "/var/lib/ftmon/state.db"')
    assert cfg.monitor.database is None
    assert cfg.monitor.state == Path("/var/lib/ftmon/state.db")
    assert (
        (cfg.monitor.lease, cfg.monitor.lease_renew)
        == (
            MonitorSettings().lease,
            MonitorSettings().lease_renew,
        )
        == (timedelta(seconds=15), timedelta(seconds=5))
    )


def test_lease_settings_are_read() -> None:
    cfg = load('state = "postgresql://u@h/d"\nlease = "30s"\nlease_renew = "10s"')
    assert (cfg.monitor.lease, cfg.monitor.lease_renew) == (
        timedelta(seconds=30),
        timedelta(seconds=10),
    )


@pytest.mark.parametrize(
    ("monitor", "key", "expected"),
    [
        ('state = "postgresql://u@h"', "monitor.state", "postgresql://user@host"),
        ('lease = "10s"\nlease_renew = "6s"', "monitor.lease_renew", "at most half of lease"),
        ('state_password = "x"', "monitor.state_password", "only with a postgresql:// state"),
        (
            'state = "postgresql://u:p@h/d"\nstate_password = "q"',
            "monitor.state_password",
            "either in the state URL or here",
        ),
        (
            'state = "postgresql://u@h/d"\nstate_password_file = "/nope"',
            "monitor.state_password_file",
            "cannot read /nope",
        ),
    ],
)
def test_bad_postgresql_settings_name_the_key(monitor: str, key: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(monitor)
    assert caught.value.key == key
    assert expected in caught.value.expected

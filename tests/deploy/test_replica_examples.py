"""The two-replica examples (deploy/replicas/): each config loads as a PostgreSQL state
with its password from where the deployment puts it, never shown; the compose file runs
two replicas of one config beside a database; the systemd drop-in loads the password
credential the config reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor import config

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "deploy/replicas"


def test_compose_config_is_a_shared_postgresql_state() -> None:
    env = {
        "TOGETHER_API_KEY": "tg-key",
        "SLACK_WEBHOOK_URL": "https://hooks.example/T/B/x",
        "FTMON_DB_PASSWORD": "db-password-from-env",
    }
    cfg = config.load(HERE / "ftmon.toml", env)
    assert cfg.monitor.database == "postgresql://ftmon@postgres:5432/ftmon"
    password = cfg.monitor.database_password
    assert password is not None and password.reveal() == "db-password-from-env"
    assert "db-password-from-env" not in config.describe(cfg)
    assert cfg.monitor.lease_renew * 2 <= cfg.monitor.lease


def test_compose_runs_two_replicas_of_one_config_beside_the_database() -> None:
    yaml = pytest.importorskip("yaml")
    compose = yaml.safe_load((HERE / "compose.yaml").read_text())
    services = compose["services"]
    replicas = [name for name in services if name.startswith("ftmon-")]
    assert len(replicas) == 2
    for name in replicas:
        service = services[name]
        assert "./ftmon.toml:/etc/ftmon/ftmon.toml:ro" in service["volumes"]
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
    ports = {services[name]["ports"][0] for name in replicas}
    assert len(ports) == 2  # each replica's /readyz and /metrics apart
    assert services["postgres"]["environment"]["POSTGRES_DB"] == "ftmon"


def test_systemd_dropin_gives_the_config_its_password(tmp_path: Path) -> None:
    dropin = (HERE / "replicas.conf").read_text().splitlines()
    loaded = [line.split("=", 1)[1] for line in dropin if line.startswith("LoadCredential=")]
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    for name in ("together_api_key", "openai_api_key", "slack_webhook_url"):
        (credentials / name).write_text(f"value-of-{name}\n")
    for entry in loaded:
        (credentials / entry.split(":", 1)[0]).write_text("db-password-from-credential\n")
    cfg = config.load(HERE / "ftmon-systemd.toml", {"CREDENTIALS_DIRECTORY": str(credentials)})
    password = cfg.monitor.database_password
    assert password is not None and password.reveal() == "db-password-from-credential"
    assert cfg.monitor.database is not None and cfg.monitor.database.startswith("postgresql://")

"""The webhook keys of `[[providers]]`: secret, its file, the slower poll, the listen default."""

from __future__ import annotations

import tomllib
from datetime import timedelta

import pytest

from monitor.config import describe, parse
from monitor.core.errors import ConfigError
from monitor.core.settings import Config

FILE = "ftmon.toml"
SECRET = "whsec_c2lnbmluZy1rZXktZm9yLWZ0bW9uLXRlc3Rz"
OPENAI = '[[providers]]\nname = "oa"\nkind = "openai"\napi_key = "k"\n'
TOGETHER = '[[providers]]\nname = "tg"\nkind = "together"\napi_key = "k"\n'


def load(
    text: str, files: dict[str, str] | None = None, env: dict[str, str] | None = None
) -> Config:
    known = files or {}

    def read_file(path: str) -> str:
        if path not in known:
            raise FileNotFoundError(2, "No such file or directory", path)
        return known[path]

    return parse(tomllib.loads(text), file=FILE, env=env or {}, read_file=read_file)


def test_a_secret_turns_webhooks_on_and_listens_on_loopback() -> None:
    """`webhook_secret` alone: kept as a Secret, listed for redaction, `listen` defaults to
    127.0.0.1:9464 so OpenAI's deliveries have somewhere to go (behind a proxy)."""
    cfg = load(f'{OPENAI}webhook_secret = "{SECRET}"\n')
    provider = cfg.providers[0]
    assert provider.webhook_secret is not None
    assert provider.webhook_secret.reveal() == SECRET
    assert provider.webhook_poll_interval is None
    assert cfg.monitor.listen == "127.0.0.1:9464"
    assert SECRET in [s.reveal() for s in cfg.secrets()]


def test_an_explicit_listen_wins_and_no_secret_changes_nothing() -> None:
    """With `listen` set it is kept; without any webhook secret no server is implied."""
    text = f'[monitor]\nlisten = "0.0.0.0:8080"\n{OPENAI}webhook_secret = "{SECRET}"\n'
    assert load(text).monitor.listen == "0.0.0.0:8080"
    assert load(OPENAI).monitor.listen == ""


def test_the_secret_may_come_from_a_file() -> None:
    """`webhook_secret_file` (systemd credentials): the file's content, trailing newline cut."""
    cfg = load(
        f'{OPENAI}webhook_secret_file = "/run/creds/hook"\n', {"/run/creds/hook": SECRET + "\n"}
    )
    assert cfg.providers[0].webhook_secret is not None
    assert cfg.providers[0].webhook_secret.reveal() == SECRET
    assert cfg.providers[0].webhook_secret.source == "file /run/creds/hook"


def test_check_config_masks_the_secret() -> None:
    """check-config shows where the secret came from, never its value."""
    text = describe(
        load(
            f'{OPENAI}webhook_secret = "${{HOOK}}"\nwebhook_poll_interval = "5m"\n',
            env={"HOOK": SECRET},
        )
    )
    assert 'webhook_secret = "********"  # from env HOOK' in text
    assert 'webhook_poll_interval = "5m"' in text
    assert SECRET not in text
    assert SECRET.removeprefix("whsec_") not in text


BAD = [
    # not base64 after the prefix
    ("not_base64", f'{OPENAI}webhook_secret = "whsec_not base64!"\n',
     "providers[0].webhook_secret: expected the signing secret OpenAI shows for the endpoint "
     '("whsec_" and base64); the value from the config file is not'),
    # an empty key after the prefix
    ("empty_key", f'{OPENAI}webhook_secret = "whsec_"\n',
     "providers[0].webhook_secret: expected the signing secret OpenAI shows for the endpoint "
     '("whsec_" and base64); the value from the config file is not'),
    # Together sends no webhooks
    ("together", f'{TOGETHER}webhook_secret = "{SECRET}"\n',
     'providers[0].webhook_secret: expected only on a provider of kind "openai" '
     "(Together has none)"),
    # both forms at once
    ("both", f'{OPENAI}webhook_secret = "{SECRET}"\nwebhook_secret_file = "/x"\n',
     "providers[0].webhook_secret_file: expected either webhook_secret or webhook_secret_file, "
     "not both"),
    # a slower poll without webhooks would only be slower
    ("interval_alone", f'{OPENAI}webhook_poll_interval = "5m"\n',
     "providers[0].webhook_poll_interval: expected only beside a webhook_secret"),
    # faster than poll_interval is no slowing down
    ("interval_fast", f'{OPENAI}webhook_secret = "{SECRET}"\nwebhook_poll_interval = "10s"\n',
     "providers[0].webhook_poll_interval: expected a duration from poll_interval (1m) to 1h, "
     'got 10s'),
    # beyond an hour, stalls and starts would wait too long
    ("interval_slow", f'{OPENAI}webhook_secret = "{SECRET}"\nwebhook_poll_interval = "2h"\n',
     "providers[0].webhook_poll_interval: expected a duration from poll_interval (1m) to 1h, "
     'got 2h'),
]  # fmt: skip


@pytest.mark.parametrize(("text", "message"), [pytest.param(t, m, id=n) for n, t, m in BAD])
def test_bad_webhook_keys(text: str, message: str) -> None:
    """Each mistake is one ConfigError naming the key, never showing the secret."""
    with pytest.raises(ConfigError) as caught:
        load(text)
    assert str(caught.value) == f"{FILE}: {message}"
    assert "c2lnbmluZy1rZXk" not in str(caught.value)


def test_the_slower_interval_is_kept() -> None:
    cfg = load(f'{OPENAI}webhook_secret = "{SECRET}"\nwebhook_poll_interval = "15m"\n')
    assert cfg.providers[0].webhook_poll_interval == timedelta(minutes=15)

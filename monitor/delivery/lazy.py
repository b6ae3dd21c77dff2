"""Channels for `run --once`: apprise is loaded only when there is something to send.

Loading apprise's plugin set costs about half a second, paid by every cron run, although
most runs have nothing to send. So `run --once` gets `LazyChannel`s, which build their
`AppriseChannel` on first use. A broken channel URL must still be caught at once, not at
the first alert: the URLs are validated (apprise loaded) whenever the set of channels
differs from the one last validated, which the state file remembers by a fingerprint
(salted digests of the URLs, never the URLs). `check-config` and the daemon's start and
reload always validate.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from monitor.core.render import BodyFormat, Message
from monitor.core.settings import ChannelConfig
from monitor.delivery.channels import AppriseChannel, SendResult, build_channels, fingerprint
from monitor.storage.base import Store


class LazyChannel:
    """A `Channel` whose apprise side is built the first time it is needed."""

    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self._url = url
        self.fingerprint = fingerprint(name, url)
        self._built: AppriseChannel | None = None

    @property
    def built(self) -> AppriseChannel:
        if self._built is None:
            self._built = AppriseChannel(self.name, self._url)
        return self._built

    @property
    def fmt(self) -> BodyFormat:
        return self.built.fmt

    @property
    def body_limit(self) -> int:
        return self.built.body_limit

    @property
    def title_limit(self) -> int:
        return self.built.title_limit

    @property
    def loaded(self) -> bool:
        return self._built is not None

    async def send(self, message: Message) -> SendResult:
        return await self.built.send(message)


def channel_set_key(channels: Sequence[LazyChannel]) -> str:
    """One digest of every channel's name and URL fingerprint, in config order."""
    joined = "\n".join(f"{c.name}={c.fingerprint}" for c in channels)
    return hashlib.sha256(joined.encode()).hexdigest()[:32]


def checked_lazy_channels(
    configs: Sequence[ChannelConfig], file: Path | str, store: Store
) -> dict[str, LazyChannel]:
    """Lazy channels; their URLs validated now unless this very set was validated before."""
    lazy = [LazyChannel(cfg.name, cfg.url.reveal()) for cfg in configs]
    key = channel_set_key(lazy)
    if configs and store.checked_channels() != key:
        build_channels(configs, file)  # a URL apprise cannot use: a ConfigError, exit 78
        store.remember_checked_channels(key)
    return {channel.name: channel for channel in lazy}

"""Redaction: every registered secret, and the token-like parts of secret URLs, masked.

The one registry of the process's secrets (filled from the config when it is loaded), used
by the log processors, stored errors and anything shown to a person. Pure string work; the
registry is process-wide because the set of secrets is a property of the loaded config.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, MutableMapping
from typing import Any

MASK = "********"
_URL_PARTS = re.compile(r"[/:@?&=#,]+")


class Redactor:
    """Replaces registered secrets (and the token-like parts of secret URLs) with a mask."""

    def __init__(self) -> None:
        self._pattern: re.Pattern[str] | None = None

    def register(self, secrets: Iterable[str]) -> None:
        fragments: set[str] = set()
        for secret in secrets:
            if not secret:
                continue
            fragments.add(secret)
            if "://" in secret:
                fragments.update(_url_tokens(secret))
        ordered = sorted(fragments, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __call__(self, text: str) -> str:
        return self._pattern.sub(MASK, text) if self._pattern else text

    def processor(
        self, _logger: object, _name: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key, value in event.items():
            if isinstance(value, str):
                event[key] = self(value)
            elif value is not None and not isinstance(value, int | float | bool):
                event[key] = self(str(value))
        return event


def _url_tokens(url: str) -> set[str]:
    """Userinfo, path and query pieces of a URL long enough to be a token or password, and
    a "host" that is no host name (apprise puts tokens there: `slack://TOKEN_A/…`)."""
    _scheme, _, rest = url.partition("://")
    userinfo, _, _hostpath = rest.rpartition("@")
    pieces = set(_URL_PARTS.split(userinfo)) if userinfo else set()
    host_and_path = rest.split("@")[-1]
    host, _, path = host_and_path.partition("/")
    pieces |= set(_URL_PARTS.split(path))
    name = host.split(":")[0]
    if "." not in name and name not in ("localhost", ""):
        pieces.add(name)
    return {p for p in pieces if len(p) >= 6}


REDACTOR = Redactor()

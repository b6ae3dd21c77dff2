"""Redaction: every registered secret, and the token-like parts of secret URLs, masked.

The one registry of the process's secrets (filled from the config when it is loaded), used
by the log processors, stored errors and anything shown to a person. Pure string work; the
registry is process-wide because the set of secrets is a property of the loaded config.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

MASK = "********"


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
    """The secret parts of a URL: its password, a user name or "host" that looks like a key
    (apprise puts tokens there: `slack://TOKEN_A/…`, `tgram://BOT:TOKEN/…`), path segments
    that are not plain words (webhook ids and tokens), and query values that are keys or
    look like tokens. Hosts, ports, plain words and e-mail addresses stay readable: masked
    everywhere in the logs they would hide what an operator needs, and none is secret."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return set()
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, _, password = (unquote(p) for p in userinfo.partition(":"))
    pieces = {password} if password else set()
    pieces |= {user} if _looks_like_token(user) else set()
    host, port = _host_and_port(hostport)
    pieces |= {host} if host and not _is_host(host) else set()
    pieces |= {port} if port and not port.isdigit() else set()
    pieces |= {unquote(seg) for seg in parts.path.split("/") if seg and not _is_word(seg)}
    for key, value in parse_qsl(parts.query):
        if _SECRET_KEY.search(key) or _looks_like_token(value):
            pieces.add(value)
    return {p for p in pieces if len(p) >= MIN_FRAGMENT}


def _host_and_port(hostport: str) -> tuple[str, str]:
    if hostport.startswith("["):  # [::1]:8080
        host, _, rest = hostport[1:].partition("]")
        return host, rest.removeprefix(":")
    host, _, port = hostport.partition(":")
    return host, port


MIN_FRAGMENT = 4  # shorter pieces would mask common text; the whole URL is masked anyway
_SECRET_KEY = re.compile(r"pass|token|key|secret|auth|sig|code|hook|cred|session", re.I)
_WORD = re.compile(r"[a-z][a-z_-]{0,19}|v\d{1,2}|\d{1,5}")


def _is_host(host: str) -> bool:
    """A DNS name with a dot, localhost, or an IP address (`urlsplit` strips IPv6 brackets)."""
    return "." in host or ":" in host or host == "localhost"


def _is_word(segment: str) -> bool:
    """A path segment that names a thing (`services`, `api`, `v1`), not an id or a token."""
    return _WORD.fullmatch(unquote(segment)) is not None


def _looks_like_token(value: str) -> bool:
    """Long, not an address or a host or a word: mixed letters and digits, or mixed case."""
    if len(value) < 8 or "@" in value or "." in value or _WORD.fullmatch(value):
        return False
    has_digit = any(c.isdigit() for c in value)
    has_alpha = any(c.isalpha() for c in value)
    mixed_case = value != value.lower() and value != value.upper()
    return (has_digit and has_alpha) or mixed_case or value.isdigit() or len(value) > 20


REDACTOR = Redactor()

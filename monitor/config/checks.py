"""The rules of single config fields beyond their type: names, references, URLs, globs.

Each function reads one key of a `Table` and raises ConfigError naming that key (or the
list item at fault, like `routes[0].channels[1]`) and what was expected.
"""

from __future__ import annotations

import base64
import fnmatch
import ipaddress
import re
from collections.abc import Sequence
from datetime import time, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from monitor.config.fields import Sourced, Table, show
from monitor.core.durations import format_duration
from monitor.core.routing import SCALAR_KEYS, JobMatch, glob_problem

_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?")
_QUIET = re.compile(r"([0-9]{1,2}):([0-9]{2})-([0-9]{1,2}):([0-9]{2})\s+(\S+)")
_GLOB_EXAMPLE = '"support-*"'
_LABEL_KEY = re.compile(r"[A-Za-z0-9_.-]+")
_SIGNING_WHAT = 'the signing secret OpenAI shows for the endpoint ("whsec_" and base64)'
_QUIET_EXAMPLE = '"" or a window like "22:00-07:00 Europe/Berlin"'


def unique_name(t: Table, seen: dict[str, str], example: str) -> str:
    """`name`: non-empty, no spaces, not used by an earlier table of the same kind."""
    name = t.text("name", example=f'a name like "{example}"')
    if not name or any(c.isspace() for c in name):
        raise t.error("name", f'expected a name without spaces like "{example}", got {show(name)}')
    if name in seen:
        raise t.error("name", f"expected a unique name, got {show(name)} again ({seen[name]})")
    seen[name] = t.key("name")
    return name


def references(t: Table, key: str, known: Sequence[str]) -> tuple[str, ...]:
    """A list of names that must each be the name of a [[key]] table."""
    names = t.strings(key)
    choices = ", ".join(known) if known else "none is defined"
    for index, name in enumerate(names):
        if name not in known:
            raise t.ctx.error(
                f"{t.key(key)}[{index}]",
                f"expected the name of a [[{key}]] table ({choices}), got {show(name)}",
            )
    return names


def kind_globs(t: Table, key: str, kinds: Sequence[str]) -> tuple[str, ...]:
    """Globs (`job.*`, `*`, `job.failed`) that each match at least one alert kind."""
    globs = t.strings(key, ("*",))
    if not globs:
        raise t.error(key, 'expected at least one kind or glob like "job.*" or "*"')
    for index, glob in enumerate(globs):
        if not any(fnmatch.fnmatchcase(kind, glob) for kind in kinds):
            raise t.ctx.error(
                f"{t.key(key)}[{index}]",
                f"expected a kind or glob matching one of {', '.join(kinds)}, got {show(glob)}",
            )
    return globs


def http_url(t: Table, key: str, default: str) -> str:
    """An http(s) URL with a host and no `user:password@`; a trailing slash is dropped.

    Credentials in a provider's URL would be shown by check-config and in logs, and make
    the HTTP client send Basic auth instead of the key: refused, and never echoed.
    """
    text = t.text(key, default)
    if is_http_url(text) and "@" in urlsplit(text).netloc:
        raise t.error(
            key,
            f'expected an http(s) URL without "user:password@" like "{default}" '
            "(the API key goes in api_key); the value is not shown",
        )
    if not is_http_url(text):
        raise t.error(key, f'expected an http(s) URL like "{default}", got {show(text)}')
    return text.rstrip("/")


def api_key(t: Table, key: str) -> Sourced:
    """An API key: printable ASCII without whitespace, so it can be sent in a header.

    A key file saved with a trailing space or tab, or a key pasted with a non-breaking
    space, would otherwise fail every request with an error quoting the header (the key).
    The message says what is wrong and where, never the key.
    """
    got = t.secret(key, what="the provider's API key")
    bad = next((i for i, c in enumerate(got.value) if not "!" <= c <= "~"), None)
    if bad is not None:
        char = got.value[bad]
        what = (
            "whitespace" if char.isspace() else "a control character" if char.isascii() else
            "a non-ASCII character"
        )  # fmt: skip
        named = f"{key}_file" if got.source.startswith("file ") else key
        raise t.error(
            named,
            f"expected an API key of printable ASCII characters without spaces; the key from "
            f"{got.source} has {what} at position {bad + 1} of {len(got.value)}",
        )
    return got


def is_http_url(text: str) -> bool:
    parts = urlsplit(text)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and text.isprintable()


def host_port(t: Table, key: str) -> str:
    """`host:port`, `[v6]:port`, or "" for off."""
    text = t.text(key, "")
    if text and not _is_host_port(text):
        raise t.error(
            key,
            f'expected "host:port" like "127.0.0.1:9464" or "[::1]:9464", or "" for off, '
            f"got {show(text)}",
        )
    return text


def _is_host_port(text: str) -> bool:
    host, _, port = text.rpartition(":")
    if not port.isascii() or not port.isdigit() or not 0 < int(port) < 65536:
        return False
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return False
        return True
    return _HOST.fullmatch(host) is not None


def quiet_window(t: Table, key: str) -> tuple[time, time, str] | None:
    """`"HH:MM-HH:MM Area/City"` -> (start, end, zone); "" -> None."""
    text = t.text(key, "")
    if not text:
        return None
    match = _QUIET.fullmatch(text)
    if match is None:
        raise t.error(key, f"expected {_QUIET_EXAMPLE}, got {show(text)}")
    h1, m1, h2, m2 = (int(g) for g in match.group(1, 2, 3, 4))
    if max(h1, h2) > 23 or max(m1, m2) > 59:
        raise t.error(key, f"expected times from 00:00 to 23:59, got {show(text)}")
    if (h1, m1) == (h2, m2):
        raise t.error(key, f"expected a window whose start and end differ, got {show(text)}")
    if not is_time_zone(match.group(5)):
        raise t.error(key, f'expected an IANA time zone like "Europe/Berlin", got {show(text)}')
    return time(h1, m1), time(h2, m2), match.group(5)


def is_time_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def webhook_secret(t: Table, openai: bool) -> Sourced | None:
    """`webhook_secret` (or `_file`): OpenAI's signing secret, `whsec_` then base64."""
    got = t.optional_secret("webhook_secret", what=_SIGNING_WHAT)
    if got is None:
        return None
    key = "webhook_secret_file" if t.given("webhook_secret_file") else "webhook_secret"
    if not openai:
        raise t.error(key, 'expected only on a provider of kind "openai" (Together has none)')
    encoded = got.value.strip().removeprefix("whsec_")
    try:
        key_bytes = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except ValueError:
        key_bytes = b""
    if not key_bytes:
        raise t.error(key, f"expected {_SIGNING_WHAT}; the value from {got.source} is not")
    return Sourced(value=got.value.strip(), source=got.source)


def webhook_poll_interval(
    t: Table, has_secret: bool, poll_interval: timedelta, ceiling: timedelta
) -> timedelta | None:
    """How slowly to poll while webhooks arrive: from `poll_interval` up to `ceiling`."""
    if not t.given("webhook_poll_interval"):
        return None
    if not has_secret:
        raise t.error("webhook_poll_interval", "expected only beside a webhook_secret")
    value = t.duration("webhook_poll_interval", poll_interval)
    if not poll_interval <= value <= ceiling:
        raise t.error(
            "webhook_poll_interval",
            f"expected a duration from poll_interval ({format_duration(poll_interval)}) "
            f"to {format_duration(ceiling)}, got {format_duration(value)}",
        )
    return value


def job_match(t: Table) -> JobMatch:
    """The job matchers in table `t` (a route, or a provider's `watch`): each a glob or a
    list of globs, `metadata` a table of key -> glob(s). A bad glob names its key."""
    model, suffix, output, wandb_project, job = (_globs(t, key) for key in SCALAR_KEYS)
    return JobMatch(
        model=model,
        suffix=suffix,
        output=output,
        wandb_project=wandb_project,
        job=job,
        metadata=_metadata(t),
    )


def _globs(t: Table, key: str) -> tuple[str, ...]:
    if not t.given(key):
        return ()
    value = t.raw[key]
    if isinstance(value, str):
        return (_glob(t, t.key(key), value),)
    if not isinstance(value, list) or not value:
        raise t.error(key, f"expected a glob like {_GLOB_EXAMPLE} or a non-empty list of globs, "
                      f"got {show(value)}")  # fmt: skip
    return tuple(_glob(t, f"{t.key(key)}[{i}]", item) for i, item in enumerate(value))


def _glob(t: Table, key: str, value: object) -> str:
    if not isinstance(value, str):
        raise t.ctx.error(key, f"expected a glob like {_GLOB_EXAMPLE}, got {show(value)}")
    text = t.ctx.expand(value, key)[0]
    problem = glob_problem(text)
    if problem is not None:
        raise t.ctx.error(key, f"expected a glob like {_GLOB_EXAMPLE}, got {show(text)}: {problem}")
    return text


def _metadata(t: Table) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if not t.given("metadata"):
        return ()
    value = t.raw["metadata"]
    if not isinstance(value, dict) or not value:
        raise t.error("metadata", f"expected a table of metadata key = glob like "
                      f"{{ team = {_GLOB_EXAMPLE} }}, got {show(value)}")  # fmt: skip
    table = Table(t.ctx, value, t.key("metadata"), tuple(value))
    return tuple((key, _globs(table, key)) for key in value)


def label_keys(t: Table, key: str, reserved: Sequence[str]) -> tuple[str, ...]:
    """Metadata keys for the label line: label-safe words that no built-in label uses."""
    names = t.strings(key)
    for index, name in enumerate(names):
        if not _LABEL_KEY.fullmatch(name) or name in reserved:
            raise t.ctx.error(
                f"{t.key(key)}[{index}]",
                "expected a metadata key of letters, digits, _ . or - that is not a built-in "
                f"label ({', '.join(reserved)}), got {show(name)}",
            )
    return names


def megabytes(t: Table, key: str, default: int, *, at_most: int = 1024) -> int:
    """A whole number of MiB from 1 to `at_most`."""
    value = t.raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= at_most:
        raise t.error(key, f"expected a whole number of MiB from 1 to {at_most}, got {show(value)}")
    return value

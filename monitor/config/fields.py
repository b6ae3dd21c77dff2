"""Typed readers for the tables of the config file; every failure is a ConfigError.

`Table` wraps one decoded TOML table with its key path (`providers[1]`), rejects unknown
keys up front, and reads each field with its type check, `${ENV_VAR}` substitution and a
message naming the key and what was expected. A secret (`api_key` or `api_key_file`, ...)
comes back as `Sourced`: the value and where it came from, never shown in a message.
Pure: the environment and the file reader are passed in.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, time, timedelta
from enum import StrEnum
from typing import TypeVar

from monitor.core.durations import (
    DURATION_EXAMPLES,
    DurationError,
    format_duration,
    parse_duration,
)
from monitor.core.errors import ConfigError

MAX_DURATION = timedelta(days=3650)  # any duration in the file; some keys allow less

ReadFile = Callable[[str], str]
"""Returns a file's text; raises OSError (or UnicodeError) when it cannot."""

E = TypeVar("E", bound=StrEnum)
# What the shipped units' `SetCredential=` lines put in a credential whose `LoadCredential=`
# file is missing (followed by that file's path): systemd then starts ftmon instead of
# failing with 243 in a restart loop, and ftmon names the credential and exits 78.
MISSING_CREDENTIAL = "ftmon:missing-credential:"

_REFERENCE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\{")


@dataclass(frozen=True, slots=True, kw_only=True)
class Sourced:
    """A secret's value and where it came from ("env X", "file /run/...", "the config file")."""

    value: str
    source: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Context:
    file: str
    env: Mapping[str, str]
    read_file: ReadFile

    def error(self, key: str, expected: str) -> ConfigError:
        return ConfigError(self.file, key, expected)

    def expand(self, text: str, key: str) -> tuple[str, tuple[str, ...]]:
        """Substitute every `${NAME}`; `$${` is a literal `${`. Returns the names used too."""
        used: list[str] = []

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if match.group(0) == "$${":
                return "${"
            if name is None:
                raise self.error(
                    key,
                    "expected ${NAME} with a name of letters, digits and underscores "
                    "(write $${ for a literal ${)",
                )
            if name not in self.env:
                raise self.error(key, f"expected environment variable {name} to be set")
            used.append(name)
            return self.env[name]

        return _REFERENCE.sub(substitute, text), tuple(dict.fromkeys(used))


def show(value: object) -> str:
    """A value as the file would spell it, for "got ..." in a message."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int | float):
        return repr(value)
    return type_name(value)


def type_name(value: object) -> str:
    """What a value is, without showing it (for secrets)."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string" if value else "an empty string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, date | time):
        return "a date/time"
    return type(value).__name__


def one_of(words: Sequence[str]) -> str:
    """`"a", "b" or "c"`."""
    quoted = [json.dumps(w) for w in words]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


class Table:
    """One TOML table at a key path, read field by field."""

    def __init__(
        self,
        ctx: Context,
        raw: Mapping[str, object],
        path: str,
        allowed: Sequence[str],
        *,
        noun: str = "key",
    ) -> None:
        self.ctx = ctx
        self.raw = raw
        self.path = path
        for name in raw:
            if name not in allowed:
                raise self.error(name, _unknown(noun, name, allowed))

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def error(self, name: str, expected: str) -> ConfigError:
        return self.ctx.error(self.key(name), expected)

    def given(self, name: str) -> bool:
        return name in self.raw

    def table(self, name: str, allowed: Sequence[str]) -> Table:
        value = self.raw.get(name, {})
        if not isinstance(value, dict):
            raise self.error(name, f"expected a table [{name}], got {show(value)}")
        return Table(self.ctx, value, self.key(name), allowed)

    def tables(self, name: str, allowed: Sequence[str]) -> list[Table]:
        value = self.raw.get(name, [])
        if not isinstance(value, list):
            raise self.error(name, f"expected [[{name}]] tables, got {show(value)}")
        out = []
        for index, item in enumerate(value):
            key = f"{self.key(name)}[{index}]"
            if not isinstance(item, dict):
                raise self.ctx.error(key, f"expected a [[{name}]] table, got {show(item)}")
            out.append(Table(self.ctx, item, key, allowed))
        return out

    def text(self, name: str, default: str | None = None, *, example: str = "") -> str:
        """A string with `${VAR}` substituted; without a default the key is required."""
        if name not in self.raw:
            if default is None:
                raise self.error(name, f"missing required key; expected {example}")
            return default
        value = self.raw[name]
        if not isinstance(value, str):
            raise self.error(name, f"expected a string, got {show(value)}")
        return self.ctx.expand(value, self.key(name))[0]

    def strings(self, name: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        """A list of non-empty strings, each with `${VAR}` substituted."""
        if name not in self.raw:
            return default
        value = self.raw[name]
        if not isinstance(value, list):
            raise self.error(name, f"expected a list of strings, got {show(value)}")
        out = []
        for index, item in enumerate(value):
            key = f"{self.key(name)}[{index}]"
            if not isinstance(item, str) or not item:
                raise self.ctx.error(key, f"expected a non-empty string, got {show(item)}")
            out.append(self.ctx.expand(item, key)[0])
        return tuple(out)

    def duration(
        self,
        name: str,
        default: timedelta,
        *,
        zero_ok: bool = False,
        at_most: timedelta = MAX_DURATION,
    ) -> timedelta:
        """A duration string; more than zero unless `zero_ok`, and at most `at_most` (a
        duration of ten thousand years would pass the grammar and then overflow a date)."""
        if name not in self.raw:
            return default
        value = self.raw[name]
        expected = f"expected a duration like {DURATION_EXAMPLES}"
        if not isinstance(value, str):
            raise self.error(name, f"{expected}, got {show(value)}")
        text = self.ctx.expand(value, self.key(name))[0]
        try:
            result = parse_duration(text)
        except DurationError as exc:
            why = f" ({exc.reason})" if exc.reason else ""
            raise self.error(name, f"{expected}, got {show(text)}{why}") from None
        if not result and not zero_ok:
            raise self.error(
                name,
                f"expected a duration greater than zero like {DURATION_EXAMPLES}, got {show(text)}",
            )
        if result > at_most:
            limit = format_duration(at_most)
            raise self.error(name, f"expected a duration of at most {limit}, got {show(text)}")
        return result

    def choice(self, name: str, enum: type[E], default: E | None = None) -> E:
        words = [member.value for member in enum]
        text = self.text(name, None if default is None else default.value, example=one_of(words))
        try:
            return enum(text)
        except ValueError:
            raise self.error(name, f"expected {one_of(words)}, got {show(text)}") from None

    def number(self, name: str, default: float, *, above: float) -> float:
        if name not in self.raw:
            return default
        value = self.raw[name]
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or not value > above
        ):
            raise self.error(name, f"expected a number greater than {above:g}, got {show(value)}")
        return float(value)

    def flag(self, name: str, default: bool) -> bool:
        value = self.raw.get(name, default)
        if not isinstance(value, bool):
            raise self.error(name, f"expected true or false, got {show(value)}")
        return value

    def whole(self, name: str, default: int, *, low: int, high: int) -> int:
        """A whole number from `low` to `high`."""
        value = self.raw.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.error(
                name, f"expected a whole number from {low} to {high}, got {show(value)}"
            )
        return value

    def secret(self, name: str, *, what: str) -> Sourced:
        """Exactly one of `name` and `name_file`; the value is never shown in a message."""
        got = self._sourced(name, what)
        if got is None:
            raise self.error(name, f"missing; expected {what} in {name} or {name}_file")
        if not got.value:
            raise self.error(name, f"expected {what}, got an empty string from {got.source}")
        return got

    def optional_secret(self, name: str, *, what: str) -> Sourced | None:
        """`name` or `name_file` or neither; an empty `name` means none."""
        got = self._sourced(name, what)
        return got if got is not None and got.value else None

    def _sourced(self, name: str, what: str) -> Sourced | None:
        file_key = f"{name}_file"
        if name in self.raw and file_key in self.raw:
            raise self.error(file_key, f"expected either {name} or {file_key}, not both")
        if file_key in self.raw:
            return self._secret_from_file(file_key, what)
        if name not in self.raw:
            return None
        value = self.raw[name]
        if not isinstance(value, str):
            raise self.error(name, f"expected {what} as a string, got {type_name(value)}")
        text, used = self.ctx.expand(value, self.key(name))
        return Sourced(value=text, source=_source(value, used))

    def _secret_from_file(self, file_key: str, what: str) -> Sourced:
        path = self.text(file_key)
        if not path:
            raise self.error(file_key, f'expected the path of a file holding {what}, got ""')
        try:
            content = self.ctx.read_file(path)
        except (OSError, UnicodeError) as exc:
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            raise self.error(
                file_key, f"expected a readable file holding {what}, cannot read {path}: {reason}"
            ) from None
        value = content.rstrip("\r\n")
        if not value:
            raise self.error(file_key, f"expected {what} in {path}, but the file is empty")
        if value.startswith(MISSING_CREDENTIAL):
            missing = value.removeprefix(MISSING_CREDENTIAL).strip() or "its source file"
            raise self.error(
                file_key,
                f"expected {what} in {path}, but systemd did not load that credential: "
                f"{missing} does not exist (LoadCredential=); create it, or remove what uses it",
            )
        return Sourced(value=value, source=f"file {path}")


def _source(written: str, used: tuple[str, ...]) -> str:
    """Where a secret written as `written` came from, for check-config's output."""
    if not used:
        return "the config file"
    names = ", ".join(used)
    return (
        f"env {names}" if written == "${" + used[0] + "}" else f"the config file with env {names}"
    )


def _unknown(noun: str, name: str, allowed: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, allowed, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"unknown {noun}; expected one of {', '.join(allowed)}{hint}"

"""Table tests for config.parse and config.describe: pure, no files, no environment."""

from __future__ import annotations

import errno
import tomllib
from collections.abc import Callable, Mapping
from datetime import time, timedelta
from pathlib import Path

import pytest

from monitor.config import describe, parse
from monitor.config.load import DEFAULT_BASE_URLS
from monitor.core.alerts import Severity
from monitor.core.errors import ConfigError
from monitor.core.model import ProviderKind
from monitor.core.settings import (
    Config,
    FirstRun,
    Incidents,
    LogFormat,
    MonitorSettings,
    QuietHours,
    Secret,
    Thresholds,
)

FILE = "ftmon.toml"
PROVIDER = '[[providers]]\nname = "tg"\nkind = "together"\napi_key = "k"\n'
CHANNEL = '[[channels]]\nname = "slack"\nurl = "slack://T/B/tok"\n'
ROUTE = '[[routes]]\nchannels = ["slack"]\n'
DURATION = '"90s", "15m", "1h30m" or "7d"'


def reader(files: Mapping[str, str]) -> Callable[[str], str]:
    """A read_file that knows only `files` and fails like the OS for anything else."""

    def read_file(path: str) -> str:
        if path not in files:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        return files[path]

    return read_file


def load_text(
    text: str, env: Mapping[str, str] | None = None, files: Mapping[str, str] | None = None
) -> Config:
    raw = tomllib.loads(text)
    return parse(raw, file=FILE, env=env or {}, read_file=reader(files or {}))


# --- good configurations ---------------------------------------------------------------


def test_minimal_config_fills_every_default() -> None:
    """One provider with a key is a whole config; everything else has its documented default."""
    cfg = load_text(PROVIDER)
    assert cfg.file == Path(FILE)
    assert cfg.monitor == MonitorSettings()
    assert cfg.thresholds == Thresholds()
    (provider,) = cfg.providers
    assert provider.name == "tg"
    assert provider.kind is ProviderKind.TOGETHER
    assert provider.api_key == Secret("k")
    assert provider.api_key.source == "the config file"
    assert provider.base_url == DEFAULT_BASE_URLS[ProviderKind.TOGETHER]
    assert provider.jobs == ()
    assert provider.lookback == timedelta(days=7)
    assert cfg.channels == ()
    assert cfg.routes == ()


def test_every_key_is_read() -> None:
    """Each key of DESIGN section 5 lands in its field, durations and enums converted."""
    cfg = load_text(
        """
        [monitor]
        state = "/var/lib/ftmon/state.db"
        poll_interval = "1h30m"
        first_run = "alert"
        log_format = "json"
        listen = "[::1]:9464"
        heartbeat_url = "https://hc-ping.com/abc"
        [thresholds]
        queue_stall = "2h"
        progress_stall = "90s"
        eta_grace = "7d"
        provider_down = "1d2h3m4s"
        repeat = "15m"
        loss_spike_factor = 5
        [[providers]]
        name = "oa"
        kind = "openai"
        api_key = "sk"
        base_url = "http://127.0.0.1:8080/v1/"
        jobs = ["ftjob-1", "ftjob-2"]
        lookback = "3d"
        [[channels]]
        name = "slack"
        url = "slack://T/B/tok"
        [[routes]]
        kinds = ["job.*", "monitor.auth_failed"]
        min_severity = "warning"
        providers = ["oa"]
        channels = ["slack"]
        group_wait = "0s"
        quiet_hours = "22:00-07:30 Europe/Berlin"
        """
    )
    m = cfg.monitor
    assert m.state == Path("/var/lib/ftmon/state.db")
    assert m.poll_interval == timedelta(hours=1, minutes=30)
    assert (m.first_run, m.log_format, m.listen) == (FirstRun.ALERT, LogFormat.JSON, "[::1]:9464")
    assert m.heartbeat_url == Secret("https://hc-ping.com/abc")
    t = cfg.thresholds
    assert t.provider_down == timedelta(days=1, hours=2, minutes=3, seconds=4)
    assert (t.queue_stall, t.progress_stall, t.eta_grace, t.repeat) == (
        timedelta(hours=2),
        timedelta(seconds=90),
        timedelta(days=7),
        timedelta(minutes=15),
    )
    assert t.loss_spike_factor == 5.0
    (provider,) = cfg.providers
    assert provider.base_url == "http://127.0.0.1:8080/v1"  # trailing slash dropped
    assert (provider.jobs, provider.lookback) == (("ftjob-1", "ftjob-2"), timedelta(days=3))
    (route,) = cfg.routes
    assert route.kinds == ("job.*", "monitor.auth_failed")
    assert route.min_severity is Severity.WARNING
    assert (route.providers, route.channels) == (("oa",), ("slack",))
    assert route.group_wait == timedelta(0)
    assert route.quiet_hours == QuietHours(start=time(22), end=time(7, 30), tz="Europe/Berlin")


def test_route_defaults() -> None:
    """A route needs only channels: all kinds, info and up, all providers, 30s grouping."""
    cfg = load_text(PROVIDER + CHANNEL + '[[routes]]\nchannels = ["slack"]\n')
    (route,) = cfg.routes
    assert route.kinds == ("*",)
    assert route.min_severity is Severity.INFO
    assert route.providers == ()
    assert route.group_wait == timedelta(seconds=30)
    assert route.quiet_hours is None


@pytest.mark.parametrize(
    ("written", "env", "expected"),
    [
        # the whole value from one variable
        ("${A}", {"A": "x"}, "x"),
        # inside a longer string, several per string, the same one twice
        ("pre-${A}-${B}/${A}", {"A": "1", "B": "2"}, "pre-1-2/1"),
        # $${X} is a literal ${X}, not a reference
        ("$${A} and ${A}", {"A": "v"}, "${A} and v"),
        # a lone $ or $NAME is left alone
        ("cost $5 $A", {}, "cost $5 $A"),
        # a variable set to the empty string is substituted as empty
        ("a${E}b", {"E": ""}, "ab"),
        # a substituted value is not expanded again
        ("${A}", {"A": "${B}", "B": "no"}, "${B}"),
    ],
)
def test_env_substitution_in_any_string(written: str, env: dict[str, str], expected: str) -> None:
    """${VAR} is replaced in any string value, here a job id."""
    cfg = load_text(PROVIDER + f'jobs = ["{written}"]\n', env)
    assert cfg.providers[0].jobs == (expected,)


def test_env_substitution_in_durations_urls_and_names() -> None:
    """Durations, base URLs, names and route lists are strings like any other."""
    env = {"POLL": "5s", "SIM": "http://127.0.0.1:9000", "CH": "console", "P": "sim"}
    cfg = load_text(
        """
        [monitor]
        poll_interval = "${POLL}"
        [[providers]]
        name = "${P}"
        kind = "together"
        api_key = "k"
        base_url = "${SIM}/v1"
        [[channels]]
        name = "${CH}"
        url = "json://localhost"
        [[routes]]
        providers = ["${P}"]
        channels = ["${CH}"]
        """,
        env,
    )
    assert cfg.monitor.poll_interval == timedelta(seconds=5)
    assert cfg.providers[0].base_url == "http://127.0.0.1:9000/v1"
    assert cfg.routes[0].channels == ("console",)
    assert cfg.routes[0].providers == ("sim",)


@pytest.mark.parametrize(
    ("lines", "env", "files", "value", "source"),
    [
        # a literal key in the file
        ('api_key = "sk-lit"', {}, {}, "sk-lit", "the config file"),
        # the whole key from the environment
        ('api_key = "${TOGETHER_API_KEY}"', {"TOGETHER_API_KEY": "sk-env"}, {}, "sk-env",
         "env TOGETHER_API_KEY"),
        # a literal with a variable inside
        ('api_key = "tg-${PART}"', {"PART": "x"}, {}, "tg-x", "the config file with env PART"),
        # a file; its trailing newline is dropped
        ('api_key_file = "/etc/ftmon/key"', {}, {"/etc/ftmon/key": "sk-file\n"}, "sk-file",
         "file /etc/ftmon/key"),
        # Windows line endings too
        ('api_key_file = "/k"', {}, {"/k": "ab\r\n"}, "ab", "file /k"),
        # a systemd credential, the path built from $CREDENTIALS_DIRECTORY
        ('api_key_file = "${CREDENTIALS_DIRECTORY}/together"',
         {"CREDENTIALS_DIRECTORY": "/run/credentials/ftmon.service"},
         {"/run/credentials/ftmon.service/together": "sk-cred\n"}, "sk-cred",
         "file /run/credentials/ftmon.service/together"),
    ],
)  # fmt: skip
def test_api_key_value_and_source(
    lines: str, env: dict[str, str], files: dict[str, str], value: str, source: str
) -> None:
    """The key is read from where it was given, and the Secret records where that was."""
    cfg = load_text(f'[[providers]]\nname = "tg"\nkind = "together"\n{lines}\n', env, files)
    secret = cfg.providers[0].api_key
    assert (secret.reveal(), secret.source) == (value, source)


def test_channel_url_and_heartbeat_from_files() -> None:
    """url_file and heartbeat_url_file are read through the injected reader."""
    files = {"/run/c/slack": "slack://T/B/secret\n", "/run/c/hb": "https://hc-ping.com/u\n"}
    cfg = load_text(
        '[monitor]\nheartbeat_url_file = "/run/c/hb"\n'
        + PROVIDER
        + '[[channels]]\nname = "s"\nurl_file = "/run/c/slack"\n',
        files=files,
    )
    assert cfg.channels[0].url == Secret("slack://T/B/secret")
    assert cfg.channels[0].url.source == "file /run/c/slack"
    assert cfg.monitor.heartbeat_url == Secret("https://hc-ping.com/u")


@pytest.mark.parametrize("written", ['heartbeat_url = ""', 'heartbeat_url = "${HB}"'])
def test_empty_heartbeat_url_is_off(written: str) -> None:
    """An empty heartbeat URL, also from an empty variable, turns the heartbeat off."""
    cfg = load_text(f"[monitor]\n{written}\n" + PROVIDER, {"HB": ""})
    assert cfg.monitor.heartbeat_url is None


@pytest.mark.parametrize(
    ("state_line", "env", "expected"),
    [
        # no key, no systemd: the default file name, relative to the working directory
        ("", {}, Path("ftmon-state.db")),
        # no key under systemd: the default file inside $STATE_DIRECTORY
        ("", {"STATE_DIRECTORY": "/var/lib/ftmon"}, Path("/var/lib/ftmon/ftmon-state.db")),
        # several state directories: the first one
        ("", {"STATE_DIRECTORY": "/var/lib/a:/var/lib/b"}, Path("/var/lib/a/ftmon-state.db")),
        # a key given explicitly is used as written, even under systemd
        ('state = "my.db"', {"STATE_DIRECTORY": "/var/lib/ftmon"}, Path("my.db")),
        # ... and may name the directory itself
        ('state = "${STATE_DIRECTORY}/x.db"', {"STATE_DIRECTORY": "/s"}, Path("/s/x.db")),
    ],
)
def test_state_path(state_line: str, env: dict[str, str], expected: Path) -> None:
    """The state file defaults into $STATE_DIRECTORY only when the key is not given."""
    cfg = load_text(f"[monitor]\n{state_line}\n" + PROVIDER, env)
    assert cfg.monitor.state == expected


@pytest.mark.parametrize(
    "listen", ["", "127.0.0.1:9464", "0.0.0.0:1", "localhost:65535", "[::1]:9464", "[::]:80"]
)
def test_listen_accepts_host_port(listen: str) -> None:
    """IPv4, host names and bracketed IPv6 with a port, or "" for off."""
    assert load_text(f'[monitor]\nlisten = "{listen}"\n' + PROVIDER).monitor.listen == listen


@pytest.mark.parametrize(
    ("kinds"), [["*"], ["job.*"], ["monitor.*"], ["job.failed"], ["job.*_stalled"]]
)
def test_kind_globs_that_match_a_kind(kinds: list[str]) -> None:
    """Names and globs are accepted when they match at least one alert kind."""
    quoted = ", ".join(f'"{k}"' for k in kinds)
    cfg = load_text(PROVIDER + CHANNEL + f'[[routes]]\nkinds = [{quoted}]\nchannels = ["slack"]\n')
    assert cfg.routes[0].kinds == tuple(kinds)


def test_quiet_hours_may_span_midnight_or_not() -> None:
    """Both 22:00-07:00 and 09:00-17:00 are windows; the zone may be UTC."""
    text = PROVIDER + CHANNEL
    text += '[[routes]]\nchannels = ["slack"]\nquiet_hours = "9:00-17:00 UTC"\n'
    text += '[[routes]]\nchannels = ["slack"]\nquiet_hours = "22:00-07:00 America/New_York"\n'
    first, second = (r.quiet_hours for r in load_text(text).routes)
    assert first == QuietHours(start=time(9), end=time(17), tz="UTC")
    assert second == QuietHours(start=time(22), end=time(7), tz="America/New_York")


def test_channels_without_routes_are_allowed() -> None:
    """Channels and no routes is valid (alerts are only logged); describe warns about it."""
    cfg = load_text(PROVIDER + CHANNEL)
    assert cfg.routes == ()
    assert "# warning: [[channels]] but no [[routes]]" in describe(cfg)


# --- bad configurations ----------------------------------------------------------------

R = '[[routes]]\nchannels = ["slack"]\n'
KP = '[[providers]]\nname = "tg"\nkind = "together"\n'  # a provider without its key
BAD = [
    # an unknown section
    ("unknown_section", PROVIDER + "[alerts]\nx = 1\n", {}, {},
     "alerts: unknown section; expected one of monitor, thresholds, incidents, providers, "
     "channels, routes, cost, budgets"),
    # an unknown key, with the likely intended one
    ("unknown_key_typo", "[monitor]\npoll_intervall = \"60s\"\n" + PROVIDER, {}, {},
     "monitor.poll_intervall: unknown key; expected one of state, poll_interval, first_run, "
     "log_format, listen, heartbeat_url, heartbeat_url_file, label_metadata, state_password, "
     "state_password_file, lease, lease_renew (did you mean poll_interval?)"),
    # an unknown key in an array-of-tables entry names its index
    ("unknown_key_provider", PROVIDER + 'token = "x"\n', {}, {},
     "providers[0].token: unknown key; expected one of name, kind, api_key, api_key_file, "
     "base_url, jobs, lookback, webhook_secret, webhook_secret_file, webhook_poll_interval, "
     "watch, max_response_mb"),
    # an unknown key in a route
    ("unknown_key_route", PROVIDER + CHANNEL + '[[routes]]\nchannel = ["slack"]\n', {}, {},
     "routes[0].channel: unknown key; expected one of kinds, min_severity, providers, "
     "channels, group_wait, quiet_hours, model, suffix, output, wandb_project, metadata, job "
     "(did you mean channels?)"),
    # job matchers: an unknown key in a watch filter, with the likely intended one
    ("watch_unknown_key", PROVIDER + 'watch = { sufix = "support-*" }\n', {}, {},
     "providers[0].watch.sufix: unknown key; expected one of model, suffix, output, "
     "wandb_project, metadata, job (did you mean suffix?)"),
    # a glob with an unclosed bracket, in a route
    ("route_glob_unclosed", PROVIDER + CHANNEL + ROUTE + 'suffix = "team-[ab"\n', {}, {},
     'routes[0].suffix: expected a glob like "support-*", got "team-[ab": an unclosed [ '
     "(write [[] for a literal bracket)"),
    # an empty glob in a list names its index
    ("route_glob_empty", PROVIDER + CHANNEL + ROUTE + 'model = ["gpt-*", ""]\n', {}, {},
     'routes[0].model[1]: expected a glob like "support-*", got "": an empty glob matches '
     "nothing"),
    # a matcher that is neither a glob nor a list of them
    ("route_glob_number", PROVIDER + CHANNEL + ROUTE + "job = 7\n", {}, {},
     'routes[0].job: expected a glob like "support-*" or a non-empty list of globs, got 7'),
    # metadata must be a table of globs
    ("route_metadata_not_table", PROVIDER + CHANNEL + ROUTE + 'metadata = "team"\n', {}, {},
     'routes[0].metadata: expected a table of metadata key = glob like { team = "support-*" }, '
     'got "team"'),
    ("watch_metadata_bad_glob", PROVIDER + 'watch = { metadata = { team = ["a", 1] } }\n', {},
     {}, 'providers[0].watch.metadata.team[1]: expected a glob like "support-*", got 1'),
    # label_metadata: a built-in label name would make the label line ambiguous
    ("label_metadata_builtin", '[monitor]\nlabel_metadata = ["job"]\n' + PROVIDER, {}, {},
     "monitor.label_metadata[0]: expected a metadata key of letters, digits, _ . or - that is "
     "not a built-in label (kind, severity, cause, provider, job, new_job, original_job, state, "
     'model, suffix), got "job"'),
    ("label_metadata_space", '[monitor]\nlabel_metadata = ["cost center"]\n' + PROVIDER, {},
     {}, "monitor.label_metadata[0]: expected a metadata key of letters, digits, _ . or - that "
     "is not a built-in label (kind, severity, cause, provider, job, new_job, original_job, "
     'state, model, suffix), got "cost center"'),
    # a section that is not a table
    ("section_not_table", 'monitor = "x"\n' + PROVIDER, {}, {},
     'monitor: expected a table [monitor], got "x"'),
    # [providers] instead of [[providers]]
    ("providers_single_table", '[providers]\nname = "tg"\n', {}, {},
     "providers: expected [[providers]] tables, got a table"),
    # an entry of providers that is not a table
    ("provider_not_table", 'providers = ["tg"]\n', {}, {},
     'providers[0]: expected a [[providers]] table, got "tg"'),
    # at least one provider is required
    ("no_provider", '[monitor]\npoll_interval = "60s"\n', {}, {},
     'providers: expected at least one [[providers]] table (kind "together" or "openai")'),
    # a duration written as a number
    ("duration_int", "[monitor]\npoll_interval = 60\n" + PROVIDER, {}, {},
     f"monitor.poll_interval: expected a duration like {DURATION}, got 60"),
    # a duration written as a number in a string
    ("duration_bare_number", '[monitor]\npoll_interval = "60"\n' + PROVIDER, {}, {},
     f'monitor.poll_interval: expected a duration like {DURATION}, got "60" '
     "(a number needs a unit)"),
    # a zero poll interval means nothing
    ("duration_zero_poll", '[monitor]\npoll_interval = "0s"\n' + PROVIDER, {}, {},
     f'monitor.poll_interval: expected a duration greater than zero like {DURATION}, got "0s"'),
    # a zero threshold means nothing
    ("duration_zero_threshold", '[thresholds]\nrepeat = "0m"\n' + PROVIDER, {}, {},
     f'thresholds.repeat: expected a duration greater than zero like {DURATION}, got "0m"'),
    # a negative duration
    ("duration_negative", '[thresholds]\nqueue_stall = "-5m"\n' + PROVIDER, {}, {},
     f'thresholds.queue_stall: expected a duration like {DURATION}, got "-5m" '
     "(durations cannot be negative)"),
    # a word that is not a duration (the example of the brief)
    ("duration_word", '[thresholds]\nqueue_stall = "soon"\n' + PROVIDER, {}, {},
     f'thresholds.queue_stall: expected a duration like {DURATION}, got "soon"'),
    # an unknown unit
    ("duration_unit", '[thresholds]\nprogress_stall = "1x"\n' + PROVIDER, {}, {},
     f'thresholds.progress_stall: expected a duration like {DURATION}, got "1x"'),
    # the unit before the number
    ("duration_unit_first", '[thresholds]\neta_grace = "m5"\n' + PROVIDER, {}, {},
     f'thresholds.eta_grace: expected a duration like {DURATION}, got "m5"'),
    # an empty duration
    ("duration_empty", '[thresholds]\nprovider_down = ""\n' + PROVIDER, {}, {},
     f'thresholds.provider_down: expected a duration like {DURATION}, got ""'),
    # units must fall: minutes before hours is a typo
    ("duration_order", PROVIDER + 'lookback = "30m1h"\n', {}, {},
     f'providers[0].lookback: expected a duration like {DURATION}, got "30m1h"'),
    # fractions are not durations
    ("duration_fraction", PROVIDER + CHANNEL + '[[routes]]\nchannels = ["slack"]\n'
     'group_wait = "1.5m"\n', {}, {},
     f'routes[0].group_wait: expected a duration like {DURATION}, got "1.5m"'),
    # group_wait may be zero but not negative
    ("group_wait_negative", PROVIDER + CHANNEL + R + 'group_wait = "-1s"\n', {}, {},
     f'routes[0].group_wait: expected a duration like {DURATION}, got "-1s" '
     "(durations cannot be negative)"),
    # a TOML date where a duration belongs
    ("duration_date", "[monitor]\npoll_interval = 1979-05-27\n" + PROVIDER, {}, {},
     f"monitor.poll_interval: expected a duration like {DURATION}, got a date/time"),
    # the spike factor must be above 1
    ("spike_factor_one", "[thresholds]\nloss_spike_factor = 1.0\n" + PROVIDER, {}, {},
     "thresholds.loss_spike_factor: expected a number greater than 1, got 1.0"),
    # the spike factor is a number, not a string
    ("spike_factor_string", '[thresholds]\nloss_spike_factor = "3"\n' + PROVIDER, {}, {},
     'thresholds.loss_spike_factor: expected a number greater than 1, got "3"'),
    # the spike factor is not a boolean either
    ("spike_factor_bool", "[thresholds]\nloss_spike_factor = true\n" + PROVIDER, {}, {},
     "thresholds.loss_spike_factor: expected a number greater than 1, got true"),
    # an unknown first_run word
    ("first_run_word", '[monitor]\nfirst_run = "always"\n' + PROVIDER, {}, {},
     'monitor.first_run: expected "baseline" or "alert", got "always"'),
    # an unknown log_format word
    ("log_format_word", '[monitor]\nlog_format = "xml"\n' + PROVIDER, {}, {},
     'monitor.log_format: expected "auto", "json" or "console", got "xml"'),
    # a string key given a boolean
    ("listen_bool", "[monitor]\nlisten = true\n" + PROVIDER, {}, {},
     "monitor.listen: expected a string, got true"),
    # listen without a port
    ("listen_no_port", '[monitor]\nlisten = "localhost"\n' + PROVIDER, {}, {},
     'monitor.listen: expected "host:port" like "127.0.0.1:9464" or "[::1]:9464", or "" '
     'for off, got "localhost"'),
    # listen with a port out of range
    ("listen_port_range", '[monitor]\nlisten = "127.0.0.1:70000"\n' + PROVIDER, {}, {},
     'monitor.listen: expected "host:port" like "127.0.0.1:9464" or "[::1]:9464", or "" '
     'for off, got "127.0.0.1:70000"'),
    # IPv6 must be a valid address in brackets
    ("listen_bad_ipv6", '[monitor]\nlisten = "[::zz]:9464"\n' + PROVIDER, {}, {},
     'monitor.listen: expected "host:port" like "127.0.0.1:9464" or "[::1]:9464", or "" '
     'for off, got "[::zz]:9464"'),
    # an empty state path
    ("state_empty", '[monitor]\nstate = ""\n' + PROVIDER, {}, {},
     'monitor.state: expected the path of the SQLite state file, got ""'),
    # the heartbeat URL must be http(s); its value is never echoed
    ("heartbeat_not_http", '[monitor]\nheartbeat_url = "ftp://host/tok"\n' + PROVIDER, {}, {},
     "monitor.heartbeat_url: expected an http:// or https:// URL (from the config file)"),
    # heartbeat_url and heartbeat_url_file together
    ("heartbeat_both", '[monitor]\nheartbeat_url = "https://h/x"\n'
     'heartbeat_url_file = "/hb"\n' + PROVIDER, {}, {"/hb": "https://h/y"},
     "monitor.heartbeat_url_file: expected either heartbeat_url or heartbeat_url_file, "
     "not both"),
    # an unknown provider kind
    ("provider_kind_word", PROVIDER.replace("together", "anthropic"), {}, {},
     'providers[0].kind: expected "together" or "openai", got "anthropic"'),
    # the kind is required
    ("provider_kind_missing", PROVIDER.replace('kind = "together"\n', ""), {}, {},
     'providers[0].kind: missing required key; expected "together" or "openai"'),
    # the name is required
    ("provider_name_missing", PROVIDER.replace('name = "tg"\n', ""), {}, {},
     'providers[0].name: missing required key; expected a name like "together-prod"'),
    # names have no spaces
    ("provider_name_space", PROVIDER.replace('"tg"', '"my tg"'), {}, {},
     'providers[0].name: expected a name without spaces like "together-prod", got "my tg"'),
    # names are not empty
    ("provider_name_empty", PROVIDER.replace('"tg"', '""'), {}, {},
     'providers[0].name: expected a name without spaces like "together-prod", got ""'),
    # provider names are unique
    ("provider_name_duplicate", PROVIDER + PROVIDER, {}, {},
     'providers[1].name: expected a unique name, got "tg" again (providers[0].name)'),
    # a provider without an API key
    ("api_key_missing", PROVIDER.replace('api_key = "k"\n', ""), {}, {},
     "providers[0].api_key: missing; expected the provider's API key in api_key or "
     "api_key_file"),
    # both api_key and api_key_file
    ("api_key_both", PROVIDER + 'api_key_file = "/k"\n', {}, {"/k": "x"},
     "providers[0].api_key_file: expected either api_key or api_key_file, not both"),
    # an API key of the wrong type is described, never shown
    ("api_key_int", PROVIDER.replace('"k"', "123456"), {}, {},
     "providers[0].api_key: expected the provider's API key as a string, got an integer"),
    # an empty literal key
    ("api_key_empty", PROVIDER.replace('"k"', '""'), {}, {},
     "providers[0].api_key: expected the provider's API key, got an empty string from the "
     "config file"),
    # a key from a variable that is set but empty
    ("api_key_env_empty", PROVIDER.replace('"k"', '"${TOGETHER_API_KEY}"'),
     {"TOGETHER_API_KEY": ""}, {},
     "providers[0].api_key: expected the provider's API key, got an empty string from env "
     "TOGETHER_API_KEY"),
    # a variable that is not set
    ("env_missing", PROVIDER.replace('"k"', '"${TOGETHER_API_KEY}"'), {}, {},
     "providers[0].api_key: expected environment variable TOGETHER_API_KEY to be set"),
    # a missing variable inside a longer non-secret string
    ("env_missing_in_url", PROVIDER + 'base_url = "http://${SIM_HOST}:8080/v1"\n', {}, {},
     "providers[0].base_url: expected environment variable SIM_HOST to be set"),
    # a reference whose name is not a name
    ("env_bad_name", PROVIDER + 'jobs = ["${1JOB}"]\n', {}, {},
     "providers[0].jobs[0]: expected ${NAME} with a name of letters, digits and underscores "
     "(write $${ for a literal ${)"),
    # an unterminated reference
    ("env_unterminated", PROVIDER + 'base_url = "http://${HOST"\n', {}, {},
     "providers[0].base_url: expected ${NAME} with a name of letters, digits and "
     "underscores (write $${ for a literal ${)"),
    # a key file that does not exist
    ("api_key_file_missing",
     PROVIDER.replace('api_key = "k"', 'api_key_file = "/run/credentials/ftmon.service/tg"'),
     {}, {},
     "providers[0].api_key_file: expected a readable file holding the provider's API key, "
     "cannot read /run/credentials/ftmon.service/tg: No such file or directory"),
    # an empty key file
    ("api_key_file_empty", PROVIDER.replace('api_key = "k"', 'api_key_file = "/k"'), {},
     {"/k": "\n"},
     "providers[0].api_key_file: expected the provider's API key in /k, but the file is empty"),
    # a credentials path built from an unset $CREDENTIALS_DIRECTORY
    ("credentials_dir_unset",
     PROVIDER.replace('api_key = "k"', 'api_key_file = "${CREDENTIALS_DIRECTORY}/tg"'), {}, {},
     "providers[0].api_key_file: expected environment variable CREDENTIALS_DIRECTORY to be "
     "set"),
    # the base URL must be http(s)
    ("base_url_scheme", PROVIDER + 'base_url = "ftp://example.com/v1"\n', {}, {},
     'providers[0].base_url: expected an http(s) URL like "https://api.together.ai/v1", '
     'got "ftp://example.com/v1"'),
    # the base URL must have a host
    ("base_url_no_host", PROVIDER + 'base_url = "https:///v1"\n', {}, {},
     'providers[0].base_url: expected an http(s) URL like "https://api.together.ai/v1", '
     'got "https:///v1"'),
    # jobs is a list, not one string
    ("jobs_string", PROVIDER + 'jobs = "ft-1"\n', {}, {},
     'providers[0].jobs: expected a list of strings, got "ft-1"'),
    # job ids are strings
    ("jobs_int", PROVIDER + "jobs = [1]\n", {}, {},
     "providers[0].jobs[0]: expected a non-empty string, got 1"),
    # a channel without a URL
    ("channel_url_missing", PROVIDER + '[[channels]]\nname = "slack"\n', {}, {},
     "channels[0].url: missing; expected an apprise URL in url or url_file"),
    # an empty channel URL
    ("channel_url_empty", PROVIDER + '[[channels]]\nname = "slack"\nurl = ""\n', {}, {},
     "channels[0].url: expected an apprise URL, got an empty string from the config file"),
    # a channel URL file that cannot be read
    ("channel_url_file_missing", PROVIDER + '[[channels]]\nname = "s"\nurl_file = "/nope"\n',
     {}, {},
     "channels[0].url_file: expected a readable file holding an apprise URL, cannot read "
     "/nope: No such file or directory"),
    # channel names are unique
    ("channel_name_duplicate", PROVIDER + CHANNEL + CHANNEL, {}, {},
     'channels[1].name: expected a unique name, got "slack" again (channels[0].name)'),
    # a route naming an unknown channel
    ("route_unknown_channel", PROVIDER + CHANNEL + '[[routes]]\nchannels = ["slack", "mail"]\n',
     {}, {},
     'routes[0].channels[1]: expected the name of a [[channels]] table (slack), got "mail"'),
    # a route naming a channel when there are none
    ("route_channel_none_defined", PROVIDER + R, {}, {},
     'routes[0].channels[0]: expected the name of a [[channels]] table (none is defined), '
     'got "slack"'),
    # a route without channels
    ("route_no_channels_key", PROVIDER + CHANNEL + '[[routes]]\nkinds = ["*"]\n', {}, {},
     "routes[0].channels: expected at least one name of a [[channels]] table"),
    # a route with an empty channel list
    ("route_empty_channels", PROVIDER + CHANNEL + "[[routes]]\nchannels = []\n", {}, {},
     "routes[0].channels: expected at least one name of a [[channels]] table"),
    # a route naming an unknown provider
    ("route_unknown_provider", PROVIDER + CHANNEL + R + 'providers = ["openai-prod"]\n', {}, {},
     'routes[0].providers[0]: expected the name of a [[providers]] table (tg), '
     'got "openai-prod"'),
    # a kind glob that matches no kind
    ("route_kind_typo", PROVIDER + CHANNEL + R + 'kinds = ["job.*", "job.faild"]\n', {}, {},
     "routes[0].kinds[1]: expected a kind or glob matching one of job.started, job.succeeded, "
     "job.failed, job.cancelled, job.restarted, job.refunded, job.queue_stalled, "
     "job.progress_stalled, job.eta_overrun, job.loss_anomaly, job.paused, job.resumed, "
     "job.vanished, monitor.auth_failed, monitor.provider_down, monitor.channel_failed, "
     "monitor.api_changed, monitor.budget, monitor.cost_digest, monitor.provider_incident, "
     'got "job.faild"'),
    # an empty kind list matches nothing
    ("route_kinds_empty", PROVIDER + CHANNEL + R + "kinds = []\n", {}, {},
     'routes[0].kinds: expected at least one kind or glob like "job.*" or "*"'),
    # an unknown severity word
    ("route_severity_word", PROVIDER + CHANNEL + R + 'min_severity = "critical"\n', {}, {},
     'routes[0].min_severity: expected "info", "success", "warning" or "failure", '
     'got "critical"'),
    # quiet hours that are not a window
    ("quiet_hours_format", PROVIDER + CHANNEL + R + 'quiet_hours = "22-07"\n', {}, {},
     'routes[0].quiet_hours: expected "" or a window like "22:00-07:00 Europe/Berlin", '
     'got "22-07"'),
    # quiet hours without a time zone
    ("quiet_hours_no_zone", PROVIDER + CHANNEL + R + 'quiet_hours = "22:00-07:00"\n', {}, {},
     'routes[0].quiet_hours: expected "" or a window like "22:00-07:00 Europe/Berlin", '
     'got "22:00-07:00"'),
    # quiet hours that start where they end
    ("quiet_hours_empty_window", PROVIDER + CHANNEL + R
     + 'quiet_hours = "07:00-07:00 Europe/Berlin"\n', {}, {},
     "routes[0].quiet_hours: expected a window whose start and end differ, "
     'got "07:00-07:00 Europe/Berlin"'),
    # an hour past 23
    ("quiet_hours_hour", PROVIDER + CHANNEL + R + 'quiet_hours = "24:00-07:00 UTC"\n', {}, {},
     'routes[0].quiet_hours: expected times from 00:00 to 23:59, got "24:00-07:00 UTC"'),
    # an unknown time zone
    ("quiet_hours_zone", PROVIDER + CHANNEL + R + 'quiet_hours = "22:00-07:00 Mars/Olympus"\n',
     {}, {},
     'routes[0].quiet_hours: expected an IANA time zone like "Europe/Berlin", '
     'got "22:00-07:00 Mars/Olympus"'),
    # a time zone area is not a zone
    ("quiet_hours_zone_area", PROVIDER + CHANNEL + R + 'quiet_hours = "22:00-07:00 Europe"\n',
     {}, {},
     'routes[0].quiet_hours: expected an IANA time zone like "Europe/Berlin", '
     'got "22:00-07:00 Europe"'),
    # a key file saved with a trailing tab: the header would be refused (and quote the key)
    ("api_key_trailing_tab", KP + 'api_key_file = "/tab.key"\n', {}, {"/tab.key": "tg-key\t\n"},
     "providers[0].api_key_file: expected an API key of printable ASCII characters without "
     "spaces; the key from file /tab.key has whitespace at position 7 of 7"),
    # a key with a space in it, from the environment
    ("api_key_space", KP + 'api_key = "${K}"\n', {"K": "tg key"}, {},
     "providers[0].api_key: expected an API key of printable ASCII characters without "
     "spaces; the key from env K has whitespace at position 3 of 6"),
    # a NUL byte pasted into a key
    ("api_key_control", KP + 'api_key_file = "/nul.key"\n', {}, {"/nul.key": "tg\x00key\n"},
     "providers[0].api_key_file: expected an API key of printable ASCII characters without "
     "spaces; the key from file /nul.key has a control character at position 3 of 6"),
    # a non-ASCII character (a typographic dash) in a key
    ("api_key_non_ascii", KP + 'api_key = "${K}"\n', {"K": "tg\u2013key"}, {},
     "providers[0].api_key: expected an API key of printable ASCII characters without "
     "spaces; the key from env K has a non-ASCII character at position 3 of 6"),
    # credentials in a provider URL: refused, and the URL (its password) never shown
    ("base_url_userinfo", PROVIDER + 'base_url = "https://user:hunter22@api.together.xyz/v1"\n',
     {}, {},
     'providers[0].base_url: expected an http(s) URL without "user:password@" like '
     '"https://api.together.ai/v1" (the API key goes in api_key); the value is not shown'),
    # a lookback so long that now - lookback is before year 1
    ("lookback_too_long", PROVIDER + 'lookback = "99999999d"\n', {}, {},
     'providers[0].lookback: expected a duration of at most 3650d, got "99999999d"'),
    # a body limit that is not a whole number of MiB
    ("max_response_mb_zero", PROVIDER + "max_response_mb = 0\n", {}, {},
     "providers[0].max_response_mb: expected a whole number of MiB from 1 to 1024, got 0"),
    # an incident needs at least two jobs
    ("incident_one_job", PROVIDER + "[incidents]\nmin_jobs = 1\n", {}, {},
     "incidents.min_jobs: expected a whole number from 2 to 1000, got 1"),
    # min_jobs written as text
    ("incident_jobs_text", PROVIDER + '[incidents]\nmin_jobs = "5"\n', {}, {},
     'incidents.min_jobs: expected a whole number from 2 to 1000, got "5"'),
    # enabled written as a string
    ("incident_enabled_text", PROVIDER + '[incidents]\nenabled = "yes"\n', {}, {},
     'incidents.enabled: expected true or false, got "yes"'),
    # a window of zero would never hold two jobs
    ("incident_window_zero", PROVIDER + '[incidents]\nwindow = "0s"\n', {}, {},
     'incidents.window: expected a duration greater than zero like "90s", "15m", "1h30m" or '
     '"7d", got "0s"'),
    # a hold longer than the window waits for a burst that can no longer count
    ("incident_hold_past_window", PROVIDER + '[incidents]\nwindow = "10m"\nhold = "15m"\n',
     {}, {}, 'incidents.hold: expected a duration no longer than window (10m), got "15m"'),
    # a typo in the section's keys
    ("incident_key_typo", PROVIDER + "[incidents]\nmin_job = 3\n", {}, {},
     "incidents.min_job: unknown key; expected one of enabled, min_jobs, window, hold "
     "(did you mean min_jobs?)"),
    # a poll interval of more than a day watches nothing
    ("poll_interval_too_long", '[monitor]\npoll_interval = "2d"\n' + PROVIDER, {}, {},
     'monitor.poll_interval: expected a duration of at most 1d, got "2d"'),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "env", "files", "message"),
    [pytest.param(text, env, files, message, id=name) for name, text, env, files, message in BAD],
)
def test_bad_config(text: str, env: dict[str, str], files: dict[str, str], message: str) -> None:
    """Each bad configuration is one ConfigError naming the file, the key and the expectation."""
    with pytest.raises(ConfigError) as caught:
        load_text(text, env, files)
    assert str(caught.value) == f"{FILE}: {message}"


def test_bad_table_has_enough_cases() -> None:
    """The table covers at least 35 distinct rules."""
    assert len({name for name, *_ in BAD}) == len(BAD) >= 35


def test_error_names_file_and_key_separately() -> None:
    """ConfigError keeps file, key and expectation apart for callers that want them."""
    with pytest.raises(ConfigError) as caught:
        parse(tomllib.loads(PROVIDER + "jobs = 3\n"), file="/etc/ftmon/ftmon.toml", env={},
              read_file=reader({}))  # fmt: skip
    error = caught.value
    assert (error.file, error.key) == ("/etc/ftmon/ftmon.toml", "providers[0].jobs")
    assert error.expected == "expected a list of strings, got 3"


# --- describe ---------------------------------------------------------------------------

SECRETS = {
    "TOGETHER_API_KEY": "tg-key-0123456789",
    "SLACK_TOKEN": "slack-token-abcdef",
    "HB_UUID": "hb-uuid-fedcba",
}
FULL = """
[monitor]
heartbeat_url = "https://hc-ping.com/${HB_UUID}"
[[providers]]
name = "tg"
kind = "together"
api_key = "${TOGETHER_API_KEY}"
[[providers]]
name = "oa"
kind = "openai"
api_key_file = "/run/credentials/ftmon.service/openai"
[[channels]]
name = "slack"
url = "slack://T000/B000/${SLACK_TOKEN}"
[[routes]]
channels = ["slack"]
quiet_hours = "22:00-07:00 Europe/Berlin"
"""
FILES = {"/run/credentials/ftmon.service/openai": "fake-file-key-99887766\n"}


def full_config() -> Config:
    return load_text(FULL, SECRETS, FILES)


def secret_values() -> list[str]:
    return [*SECRETS.values(), "fake-file-key-99887766"]


def test_describe_masks_secrets_and_names_their_source() -> None:
    """API keys show as ******** with their source; URLs show only their scheme."""
    text = describe(full_config())
    assert 'api_key = "********"  # from env TOGETHER_API_KEY' in text
    assert 'api_key = "********"  # from file /run/credentials/ftmon.service/openai' in text
    assert 'url = "slack://********"  # from the config file with env SLACK_TOKEN' in text
    assert 'heartbeat_url = "https://********"' in text
    assert 'quiet_hours = "22:00-07:00 Europe/Berlin"' in text
    assert 'poll_interval = "1m"' in text
    for value in secret_values():
        assert value not in text


def test_describe_uses_the_callers_url_mask() -> None:
    """Channel URLs are shown through mask_url (apprise's privacy form in the CLI)."""
    text = describe(full_config(), mask_url=lambda url: "slack://T000/B000/****")
    assert 'url = "slack://T000/B000/****"' in text


def test_describe_never_shows_a_secret_even_through_a_leaky_mask() -> None:
    """A mask_url that returns the URL itself still cannot leak it: values are scrubbed."""
    text = describe(full_config(), mask_url=lambda url: url)
    for value in secret_values():
        assert value not in text


def test_secret_repr_is_masked() -> None:
    """A Secret printed by accident shows no value."""
    secret = full_config().providers[0].api_key
    assert SECRETS["TOGETHER_API_KEY"] not in f"{secret} {secret!r}"


def test_describe_output_is_toml_that_reads_back() -> None:
    """The description is valid TOML whose plain values match the config."""
    cfg = full_config()
    raw = tomllib.loads(describe(cfg))
    assert raw["monitor"]["poll_interval"] == "1m"
    assert [p["name"] for p in raw["providers"]] == ["tg", "oa"]
    assert raw["routes"][0]["group_wait"] == "30s"


TEAMS = (
    '[monitor]\nlabel_metadata = ["team", "cost.center"]\n'
    + PROVIDER
    + 'watch = { suffix = ["search-*", "support-?"], wandb_project = "w[0-9]" }\n'
    + CHANNEL
    + '[[routes]]\nchannels = ["slack"]\nmodel = "gpt-4o*"\noutput = ["ft:*", "acme/*"]\n'
    + 'job = "ft-1"\nmetadata = { team = ["support", "search"], "cost.center" = "cs-*" }\n'
)


def test_job_matchers_are_read() -> None:
    """Route matchers, a watch filter and label_metadata: a glob or a list, each kept."""
    cfg = load_text(TEAMS)
    match = cfg.routes[0].match
    assert match.model == ("gpt-4o*",) and match.output == ("ft:*", "acme/*")
    assert match.job == ("ft-1",) and match.suffix == ()
    assert match.metadata == (("team", ("support", "search")), ("cost.center", ("cs-*",)))
    watch = cfg.providers[0].watch
    assert (watch.suffix, watch.wandb_project) == (("search-*", "support-?"), ("w[0-9]",))
    assert cfg.monitor.label_metadata == ("team", "cost.center")
    assert load_text(PROVIDER).providers[0].watch.empty


def test_described_matchers_read_back_as_the_same_config() -> None:
    """check-config's rendering of matchers and watch filters is TOML that parses back to
    the same matchers (quoted metadata keys included)."""
    cfg = load_text(TEAMS)
    again = parse(tomllib.loads(describe(cfg)), file=FILE, env={}, read_file=reader({}))
    assert again.routes[0].match == cfg.routes[0].match
    assert again.providers[0].watch == cfg.providers[0].watch
    assert again.monitor.label_metadata == cfg.monitor.label_metadata


def test_describe_warns_of_matchers_that_take_nothing() -> None:
    """A route with job matchers for monitor alerts only, and a metadata watch filter on a
    Together account, can take nothing: check-config says so."""
    text = describe(
        load_text(
            PROVIDER
            + 'watch = { metadata = { team = "a" } }\n'
            + CHANNEL
            + '[[routes]]\nchannels = ["slack"]\nkinds = ["monitor.*"]\nsuffix = "x-*"\n'
            + '[[routes]]\nchannels = ["slack"]\nkinds = ["*"]\nsuffix = "x-*"\n'
        )
    )
    assert (
        "# warning: routes[0] matches on job fields but its kinds are monitor.* only, which "
        "are about no job: it takes nothing" in text
    )
    assert "routes[1]" not in text
    assert (
        '# warning: provider "tg" is a Together account, whose jobs have no metadata: its '
        "watch filter follows no job" in text
    )


def test_incidents_are_read_described_and_read_back() -> None:
    """[incidents]: defaults when absent; given values kept; check-config's rendering
    parses back to the same settings (a boolean as TOML's false, not Python's False)."""
    assert load_text(PROVIDER).incidents == Incidents()
    cfg = load_text(
        PROVIDER + '[incidents]\nenabled = false\nmin_jobs = 5\nwindow = "1h"\nhold = "0s"\n'
    )
    assert cfg.incidents == Incidents(
        enabled=False, min_jobs=5, window=timedelta(hours=1), hold=timedelta(0)
    )
    text = describe(cfg)
    assert '[incidents]\nenabled = false\nmin_jobs = 5\nwindow = "1h"\nhold = "0s"' in text
    again = parse(tomllib.loads(text), file=FILE, env={}, read_file=reader({}))
    assert again.incidents == cfg.incidents
    short = load_text(PROVIDER + '[incidents]\nwindow = "2m"\n')
    assert short.incidents.hold == timedelta(minutes=2)  # the default hold, cut to the window

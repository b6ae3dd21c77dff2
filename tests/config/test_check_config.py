"""`ftmon check-config` run as a real process on real files: exit codes, lookup, masking."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from monitor.config.load import DEFAULT_PATHS

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config" / "ftmon.example.toml"
DEMO = REPO / "config" / "demo.toml"
EX_CONFIG = 78

SECRETS = {
    "TOGETHER_API_KEY": "fake-together-key-5f3a9c1e77",
    "OPENAI_API_KEY": "fake-openai-key-8d2b4f6a11",
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0AAA/B0BBB/slackTokenXyz987",
    "HB_TOKEN": "hb-token-4c4c4c4c",
    "SEARCH_SLACK_URL": "https://hooks.slack.com/services/T0AAA/B0CCC/searchTokenAbc123",
    "SUPPORT_SLACK_URL": "https://hooks.slack.com/services/T0AAA/B0DDD/supportTokenDef456",
}
FILE_KEY = "fake-key-from-credential-file-31337"
SLACK_TOKEN = "slackTokenXyz987"


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def ftmon(*args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Result:
    """Run the real CLI in a clean environment holding only `env` (and PATH)."""
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **(env or {})}
    done = subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        env=clean,
        cwd=cwd or REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def good_config(tmp_path: Path) -> Path:
    """A config using every kind of secret source: env, *_file, literal with env inside."""
    key_file = tmp_path / "credentials" / "openai"
    key_file.parent.mkdir()
    key_file.write_text(FILE_KEY + "\n")
    key_file.chmod(0o600)  # as systemd's LoadCredential= leaves it
    path = tmp_path / "good.toml"
    path.write_text(
        """
[monitor]
poll_interval = "30s"
heartbeat_url = "https://hc-ping.com/${HB_TOKEN}"
[[providers]]
name = "together-prod"
kind = "together"
api_key = "${TOGETHER_API_KEY}"
[[providers]]
name = "openai-prod"
kind = "openai"
api_key_file = "${CREDENTIALS_DIRECTORY}/openai"
[[channels]]
name = "ml-slack"
url = "${SLACK_WEBHOOK_URL}"
[[routes]]
kinds = ["job.*", "monitor.*"]
channels = ["ml-slack"]
"""
    )
    return path


def secret_env(tmp_path: Path) -> dict[str, str]:
    return {**SECRETS, "CREDENTIALS_DIRECTORY": str(tmp_path / "credentials")}


def assert_no_secret(result: Result) -> None:
    for value in [*SECRETS.values(), FILE_KEY, SLACK_TOKEN]:
        assert value not in result.output


def test_good_config_prints_the_masked_config(tmp_path: Path) -> None:
    """A valid file exits 0 and prints the resolved config with every secret masked."""
    path = good_config(tmp_path)
    result = ftmon("check-config", "-c", str(path), env=secret_env(tmp_path))
    assert (result.code, result.stderr) == (0, "")
    assert f"# ftmon configuration from {path} (secrets masked)" in result.stdout
    assert 'poll_interval = "30s"' in result.stdout
    assert 'api_key = "********"  # from env TOGETHER_API_KEY' in result.stdout
    credential = tmp_path / "credentials" / "openai"
    assert f'api_key = "********"  # from file {credential}' in result.stdout
    # channel URLs appear only in apprise's privacy form
    assert 'url = "slack://T...A/B...B/' in result.stdout
    assert "# from env SLACK_WEBHOOK_URL" in result.stdout
    assert 'heartbeat_url = "https://********"' in result.stdout
    assert_no_secret(result)


def test_routes_and_watch_filters_are_described_in_words(tmp_path: Path) -> None:
    """check-config says what each route and each watch filter takes, in words."""
    path = tmp_path / "teams.toml"
    path.write_text(
        '[[providers]]\nname = "oa"\nkind = "openai"\napi_key = "k"\n'
        'watch = { metadata = { team = ["support", "search"] } }\n'
        '[[channels]]\nname = "support"\nurl = "json://localhost/support"\n'
        '[[channels]]\nname = "oncall"\nurl = "json://localhost/oncall"\n'
        '[[routes]]\nchannels = ["support"]\nmetadata = { team = "support" }\n'
        'suffix = ["support-*", "helpdesk"]\n'
        '[[routes]]\nchannels = ["oncall"]\nkinds = ["monitor.*"]\nmin_severity = "failure"\n'
    )
    result = ftmon("check-config", "-c", str(path))
    assert (result.code, result.stderr) == (0, "")
    assert 'follows jobs whose metadata team is "support" or "search"' in result.stdout
    assert (
        "# takes * alerts of any severity from any provider, about jobs whose suffix is "
        '"support-*" or "helpdesk" and metadata team is "support" (never monitor alerts); '
        "sent to support" in result.stdout
    )
    assert (
        "# takes monitor.* alerts of severity failure or worse from any provider, about every "
        "job and monitor alerts; sent to oncall" in result.stdout
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # a duration written as a number
        ('[monitor]\npoll_interval = 60\n[[providers]]\nname = "a"\nkind = "openai"\n'
         'api_key = "k"\n',
         'monitor.poll_interval: expected a duration like "90s", "15m", "1h30m" or "7d", '
         "got 60"),
        # no provider at all
        ('[monitor]\nlog_format = "json"\n',
         'providers: expected at least one [[providers]] table (kind "together" or "openai")'),
        # a route naming a channel that does not exist
        ('[[providers]]\nname = "a"\nkind = "openai"\napi_key = "k"\n'
         '[[routes]]\nchannels = ["nope"]\n',
         'routes[0].channels[0]: expected the name of a [[channels]] table (none is defined), '
         'got "nope"'),
        # a missing environment variable
        ('[[providers]]\nname = "a"\nkind = "openai"\napi_key = "${NOT_SET_ANYWHERE}"\n',
         "providers[0].api_key: expected environment variable NOT_SET_ANYWHERE to be set"),
        # an invalid time zone in quiet hours
        ('[[providers]]\nname = "a"\nkind = "openai"\napi_key = "k"\n'
         '[[channels]]\nname = "c"\nurl = "json://localhost"\n'
         '[[routes]]\nchannels = ["c"]\nquiet_hours = "22:00-07:00 Nowhere/Land"\n',
         'routes[0].quiet_hours: expected an IANA time zone like "Europe/Berlin", '
         'got "22:00-07:00 Nowhere/Land"'),
        # a job matcher that does not exist, in a route
        ('[[providers]]\nname = "a"\nkind = "openai"\napi_key = "k"\n'
         '[[channels]]\nname = "c"\nurl = "json://localhost"\n'
         '[[routes]]\nchannels = ["c"]\nteam = "support"\n',
         "routes[0].team: unknown key; expected one of kinds, min_severity, providers, channels, "
         "group_wait, quiet_hours, model, suffix, output, wandb_project, metadata, job"),
        # a bad glob in a provider's watch filter
        ('[[providers]]\nname = "a"\nkind = "openai"\napi_key = "k"\n'
         'watch = { metadata = { team = "sup[port" } }\n',
         'providers[0].watch.metadata.team: expected a glob like "support-*", got "sup[port": '
         "an unclosed [ (write [[] for a literal bracket)"),
    ],
)  # fmt: skip
def test_bad_config_exits_78_with_the_message(tmp_path: Path, text: str, message: str) -> None:
    """A bad file exits 78 (EX_CONFIG) with one line naming file, key and expectation."""
    path = tmp_path / "bad.toml"
    path.write_text(text)
    result = ftmon("check-config", "-c", str(path))
    assert result.code == EX_CONFIG
    assert result.stdout == ""
    assert result.stderr == f"ftmon: configuration error: {path}: {message}\n"


def test_invalid_toml_names_line_and_column(tmp_path: Path) -> None:
    """tomllib's position is part of the message."""
    path = tmp_path / "broken.toml"
    path.write_text('[monitor]\npoll_interval = "60s\n')
    result = ftmon("check-config", "-c", str(path))
    assert result.code == EX_CONFIG
    assert result.stderr.startswith(f"ftmon: configuration error: {path}: expected valid TOML: ")
    assert "(at line 2, column " in result.stderr


def test_missing_file_given_with_c(tmp_path: Path) -> None:
    """A -c path that does not exist is named."""
    path = tmp_path / "absent.toml"
    result = ftmon("check-config", "-c", str(path))
    assert result.code == EX_CONFIG
    assert result.stderr == (
        f"ftmon: configuration error: {path}: cannot read this file (given with -c): "
        "No such file or directory\n"
    )


def write_minimal(path: Path, name: str) -> Path:
    path.write_text(f'[[providers]]\nname = "{name}"\nkind = "openai"\napi_key = "k"\n')
    return path


def test_lookup_uses_ftmon_config(tmp_path: Path) -> None:
    """Without -c, $FTMON_CONFIG names the file (and wins over ./ftmon.toml)."""
    chosen = write_minimal(tmp_path / "chosen.toml", "from-env")
    write_minimal(tmp_path / "ftmon.toml", "from-cwd")
    result = ftmon("check-config", env={"FTMON_CONFIG": str(chosen)}, cwd=tmp_path)
    assert result.code == 0
    assert 'name = "from-env"' in result.stdout


def test_lookup_c_wins_over_ftmon_config(tmp_path: Path) -> None:
    """-c FILE comes before $FTMON_CONFIG."""
    given = write_minimal(tmp_path / "given.toml", "from-c")
    other = write_minimal(tmp_path / "other.toml", "from-env")
    result = ftmon("check-config", "-c", str(given), env={"FTMON_CONFIG": str(other)})
    assert result.code == 0
    assert 'name = "from-c"' in result.stdout


def test_lookup_falls_back_to_ftmon_toml_in_the_working_directory(tmp_path: Path) -> None:
    """Without -c and $FTMON_CONFIG, ./ftmon.toml is read."""
    write_minimal(tmp_path / "ftmon.toml", "from-cwd")
    result = ftmon("check-config", cwd=tmp_path)
    assert result.code == 0
    assert "# ftmon configuration from ftmon.toml" in result.stdout
    assert 'name = "from-cwd"' in result.stdout


def test_lookup_ftmon_config_naming_a_missing_file(tmp_path: Path) -> None:
    """A $FTMON_CONFIG that names no file is an error, not a silent fallback."""
    write_minimal(tmp_path / "ftmon.toml", "from-cwd")
    missing = tmp_path / "missing.toml"
    result = ftmon("check-config", env={"FTMON_CONFIG": str(missing)}, cwd=tmp_path)
    assert result.code == EX_CONFIG
    assert f"{missing}: cannot read this file (given by $FTMON_CONFIG)" in result.stderr


@pytest.mark.skipif(DEFAULT_PATHS[1].exists(), reason="this machine has /etc/ftmon/ftmon.toml")
def test_lookup_finds_nothing(tmp_path: Path) -> None:
    """With no file anywhere, the error names every path tried."""
    result = ftmon("check-config", cwd=tmp_path)
    assert result.code == EX_CONFIG
    assert result.stderr == (
        "ftmon: configuration error: ftmon.toml: no configuration file found (tried "
        "ftmon.toml and /etc/ftmon/ftmon.toml); pass -c FILE or set FTMON_CONFIG\n"
    )


def test_state_directory_default_under_systemd(tmp_path: Path) -> None:
    """Under systemd ($STATE_DIRECTORY) the default state file lives there."""
    path = write_minimal(tmp_path / "f.toml", "a")
    result = ftmon("check-config", "-c", str(path), env={"STATE_DIRECTORY": "/var/lib/ftmon"})
    assert 'state = "/var/lib/ftmon/ftmon-state.db"' in result.stdout


def test_example_config_validates_with_its_variables() -> None:
    """The shipped example is valid once its variables are set; its two team routes are
    described in words."""
    result = ftmon("check-config", "-c", str(EXAMPLE), env=SECRETS)
    assert (result.code, result.stderr) == (0, "")
    assert 'name = "together-prod"' in result.stdout
    assert 'quiet_hours = "22:00-07:00 Europe/Berlin"' in result.stdout
    assert 'about jobs whose suffix is "search-*" (never monitor alerts); sent to search-ml' in (
        result.stdout
    )
    assert 'follows jobs whose metadata team is "search" or "support"' in result.stdout
    assert_no_secret(result)


@pytest.mark.parametrize(
    "missing",
    ["TOGETHER_API_KEY", "OPENAI_API_KEY", "SLACK_WEBHOOK_URL", "SEARCH_SLACK_URL"],
)
def test_example_config_names_a_missing_variable(missing: str) -> None:
    """Without one of its variables, the example fails naming that variable."""
    env = {k: v for k, v in SECRETS.items() if k != missing}
    result = ftmon("check-config", "-c", str(EXAMPLE), env=env)
    assert result.code == EX_CONFIG
    assert f"expected environment variable {missing} to be set" in result.stderr
    assert_no_secret(result)


def test_demo_config_validates_with_the_demo_variables(tmp_path: Path) -> None:
    """config/demo.toml: two simulated providers, a console channel, short thresholds."""
    env = {
        "FTMON_SIM_URL": "http://127.0.0.1:8765",
        "FTMON_DEMO_STATE": str(tmp_path / "demo.db"),
        "FTMON_DEMO_CHANNEL": "json://127.0.0.1:8766/",
        "FTMON_DEMO_LISTEN": "127.0.0.1:8767",
    }
    result = ftmon("check-config", "-c", str(DEMO), env=env)
    assert (result.code, result.stderr) == (0, "")
    for line in [
        'name = "together-sim"',
        'name = "openai-sim"',
        'base_url = "http://127.0.0.1:8765"',
        'poll_interval = "2s"',
        'queue_stall = "20s"',
        'repeat = "1m"',
        'group_wait = "0s"',
        'channels = ["console"]',
        'listen = "127.0.0.1:8767"',
        'webhook_secret = "********"  # from the config file',
        'webhook_poll_interval = "20s"',
    ]:
        assert line in result.stdout
    assert "ZnRtb24tZGVtby1vbmx5" not in result.stdout


# Bad configurations whose error sits next to a secret: the message must not echo it.
LEAKY = [
    # a wrong provider kind beside an env key
    'name = "a"\nkind = "anthropic"\napi_key = "${TOGETHER_API_KEY}"\n',
    # an unknown key beside a literal key
    'name = "a"\nkind = "openai"\napi_key = "fake-openai-key-8d2b4f6a11"\nbase = "x"\n',
    # a misplaced key whose value is a secret
    'name = "a"\nkind = "openai"\napi_key = "k"\ntoken = "fake-openai-key-8d2b4f6a11"\n',
    # both a key and a key file
    'name = "a"\nkind = "openai"\napi_key = "${OPENAI_API_KEY}"\n'
    'api_key_file = "${CREDENTIALS_DIRECTORY}/openai"\n',
    # a bad duration after a key read from a file
    'name = "a"\nkind = "openai"\napi_key_file = "${CREDENTIALS_DIRECTORY}/openai"\n'
    'lookback = "soon"\n',
]


@pytest.mark.parametrize("provider", LEAKY)
def test_errors_beside_secrets_do_not_echo_them(tmp_path: Path, provider: str) -> None:
    """No secret from env or *_file appears in stdout or stderr of a failing check."""
    good_config(tmp_path)  # writes the credential file
    path = tmp_path / "bad.toml"
    path.write_text("[[providers]]\n" + provider)
    result = ftmon("check-config", "-c", str(path), env=secret_env(tmp_path))
    assert result.code == EX_CONFIG
    assert_no_secret(result)


@pytest.mark.parametrize(
    "tail",
    [
        # a heartbeat URL that is not http(s): the URL and its token stay hidden
        '[monitor]\nheartbeat_url = "ftp://hc-ping.com/${HB_TOKEN}"\n',
        # a channel error after the URL was read
        '[[channels]]\nname = "c"\nurl = "${SLACK_WEBHOOK_URL}"\n'
        '[[channels]]\nname = "c"\nurl = "${SLACK_WEBHOOK_URL}"\n',
        # an API key given as a number is described, not shown
        '[[providers]]\nname = "b"\nkind = "openai"\napi_key = 424242424242\n',
    ],
)
def test_secret_errors_do_not_echo_secrets(tmp_path: Path, tail: str) -> None:
    """Errors in secret keys themselves describe the problem without the value."""
    path = tmp_path / "bad.toml"
    path.write_text('[[providers]]\nname = "a"\nkind = "openai"\napi_key = "k"\n' + tail)
    result = ftmon("check-config", "-c", str(path), env=secret_env(tmp_path))
    assert result.code == EX_CONFIG
    assert_no_secret(result)
    assert "424242424242" not in result.output


def test_a_secret_file_others_may_read_is_warned_about(tmp_path: Path) -> None:
    """A key file readable by group or others is named on stderr; the check still passes."""
    path = good_config(tmp_path)
    key_file = tmp_path / "credentials" / "openai"
    key_file.chmod(0o644)
    result = ftmon("check-config", "-c", str(path), env=secret_env(tmp_path))
    assert result.code == 0
    assert f"ftmon: warning: {key_file} (0o644) is readable by others" in result.stderr
    assert_no_secret(result)

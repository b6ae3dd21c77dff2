"""`[cost]` and `[[budgets]]`: defaults, a full example, and every bad value named with its
file, key and what was expected (exit 78 through the real command: test_check_config)."""

from __future__ import annotations

from datetime import time

import pytest

from monitor.core.errors import ConfigError
from monitor.core.settings import Budget, CostSettings, Period
from tests.config.test_config import FILE, PROVIDER, load_text

OA = '[[providers]]\nname = "oa"\nkind = "openai"\napi_key = "k"\n'
B = "[[budgets]]\n"


def test_defaults_no_budget_no_digest() -> None:
    assert load_text(PROVIDER).cost == CostSettings()


def test_a_full_cost_section() -> None:
    text = (
        PROVIDER + OA
        + '[cost]\ntimezone = "Europe/Berlin"\ndigest = true\ndigest_at = "07:30"\n'
        + B + 'name = "tg-daily"\nproviders = ["tg"]\nperiod = "day"\nwarning = 40\n'
        + "failure = 80.5\n"
        + B + 'period = "month"\nfailure = 1000\n'
    )  # fmt: skip
    cost = load_text(text).cost
    assert (cost.timezone, cost.digest, cost.digest_at) == ("Europe/Berlin", True, time(7, 30))
    assert cost.budgets == (
        Budget(name="tg-daily", period=Period.DAY, providers=("tg",), warning=40.0, failure=80.5),
        Budget(name="all-month", period=Period.MONTH, failure=1000.0),
    )


BAD = [
    ("period_word", B + 'period = "week"\nwarning = 5\n',
     'budgets[0].period: expected "day" or "month", got "week"'),
    ("period_missing", B + "warning = 5\n",
     'budgets[0].period: missing required key; expected "day" or "month"'),
    ("no_threshold", B + 'period = "day"\n',
     "budgets[0].warning: expected a warning or a failure threshold (USD), or both"),
    ("warning_text", B + 'period = "day"\nwarning = "40"\n',
     'budgets[0].warning: expected a number greater than 0, got "40"'),
    ("warning_zero", B + 'period = "day"\nwarning = 0\n',
     "budgets[0].warning: expected a number greater than 0, got 0"),
    ("failure_negative", B + 'period = "day"\nfailure = -5.0\n',
     "budgets[0].failure: expected a number greater than 0, got -5.0"),
    ("failure_nan", B + 'period = "day"\nfailure = nan\n',
     "budgets[0].failure: expected a number greater than 0, got nan"),
    ("failure_bool", B + 'period = "day"\nfailure = true\n',
     "budgets[0].failure: expected a number greater than 0, got true"),
    ("failure_not_above_warning", B + 'period = "day"\nwarning = 50\nfailure = 50\n',
     "budgets[0].failure: expected more than warning (50), got 50"),
    ("unknown_provider", B + 'period = "day"\nwarning = 5\nproviders = ["nope"]\n',
     'budgets[0].providers[0]: expected the name of a [[providers]] table (tg), got "nope"'),
    ("duplicate_name", B + 'period = "day"\nwarning = 5\n' + B + 'period = "day"\nfailure = 9\n',
     'budgets[1].name: expected a unique budget name, got "all-day" again'),
    ("name_with_space", B + 'name = "my budget"\nperiod = "day"\nwarning = 5\n',
     'budgets[0].name: expected a name without spaces like "together-daily", got "my budget"'),
    ("unknown_key", B + 'period = "day"\nwarn = 5\n',
     "budgets[0].warn: unknown key; expected one of name, providers, period, warning, failure "
     "(did you mean warning?)"),
    ("not_tables", "budgets = 5\n",
     "budgets: expected [[budgets]] tables, got 5"),
    ("timezone", '[cost]\ntimezone = "Mars/Olympus"\n',
     'cost.timezone: expected an IANA time zone like "Europe/Berlin", got "Mars/Olympus"'),
    ("digest_text", '[cost]\ndigest = "yes"\n',
     'cost.digest: expected true or false, got "yes"'),
    ("digest_at", '[cost]\ndigest_at = "25:00"\n',
     'cost.digest_at: expected a time of day "HH:MM" from 00:00 to 23:59, got "25:00"'),
    ("digest_at_form", '[cost]\ndigest_at = "8am"\n',
     'cost.digest_at: expected a time of day "HH:MM" from 00:00 to 23:59, got "8am"'),
]  # fmt: skip


@pytest.mark.parametrize(("text", "message"), [pytest.param(t, m, id=n) for n, t, m in BAD])
def test_bad_cost_config(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_text(text + PROVIDER if text.startswith("budgets =") else PROVIDER + text)
    assert str(caught.value) == f"{FILE}: {message}"

"""Channel URLs in logs: the secret parts masked, hosts, ports and addresses readable."""

from __future__ import annotations

import pytest

from monitor.core.redact import MASK, Redactor

CASES = [
    # url, what a log line must never show, what it must still show
    (
        "json://ops:s3cretPass@127.0.0.1:9091/hooks/AbC123tok?to=ops@example.com",
        ["s3cretPass", "AbC123tok"],
        ["127.0.0.1", "9091", "ops@example.com"],
    ),
    (
        "mailto://ftmon:hunter2pw@smtp.example.com:587?to=oncall@example.com&from=ftmon@example.com",
        ["hunter2pw"],
        ["smtp.example.com", "587", "oncall@example.com", "ftmon@example.com"],
    ),
    (
        "https://hooks.example.com/services/TFAKE0000/BFAKE0000/FAKEwebhookTOKENnotREAL",
        ["TFAKE0000", "BFAKE0000", "FAKEwebhookTOKENnotREAL"],
        ["hooks.example.com", "services"],
    ),
    (
        "slack://T0AAAAAAA/B0BBBBBBB/abcdefghijklmnopqrstuvwx/#alerts",
        ["T0AAAAAAA", "B0BBBBBBB", "abcdefghijklmnopqrstuvwx"],
        ["alerts"],
    ),
    (
        "tgram://123456789:AAEabcdEfGhIjKlMnOpQrStUvWxYz/987654321",
        ["AAEabcdEfGhIjKlMnOpQrStUvWxYz", "123456789", "987654321"],
        [],
    ),
    (
        "json://[::1]:8080/notify?apikey=k3yvalue&format=markdown",
        ["k3yvalue"],
        ["::1", "8080", "notify", "markdown"],
    ),
    (
        "https://hc-ping.com/0f5b4c3e-1234-4cde-9abc-0123456789ab",
        ["0f5b4c3e-1234-4cde-9abc-0123456789ab"],
        ["hc-ping.com"],
    ),
]


@pytest.mark.parametrize(("url", "hidden", "shown"), CASES)
def test_a_channel_url_is_masked_in_its_secret_parts_only(
    url: str, hidden: list[str], shown: list[str]
) -> None:
    redact = Redactor()
    redact.register([url])
    assert redact(f"sent to {url}") == f"sent to {MASK}"
    for piece in hidden:
        assert piece not in redact(f"apprise said: {piece} refused"), piece
    for piece in shown:
        assert redact(f"connecting to {piece} now") == f"connecting to {piece} now", piece


def test_api_keys_are_masked_whole_wherever_they_appear() -> None:
    redact = Redactor()
    redact.register(["tgk-0123456789abcdef", ""])
    assert redact("Bearer tgk-0123456789abcdef!") == f"Bearer {MASK}!"

"""One exception tree for ftmon; foreign errors are mapped onto it at one boundary each.

    FtmonError
    ├── ConfigError                 bad config file: exit 78, names file, key and expectation
    ├── ProviderError               a poll of a provider went wrong (never a job change)
    │   ├── ProviderAuthError       401/403: permanent
    │   │   └── ProviderQuotaError  OpenAI 429 insufficient_quota, Together 402: permanent
    │   ├── ProviderUnavailable     408/409/429/5xx, timeouts, connection errors: retryable
    │   ├── ProviderNotFound        404 for one job (the job may have vanished)
    │   └── ProviderSchemaError     a payload that cannot be understood: names field and job
    └── StoreError                  the state database cannot be used safely
        ├── NotAStateFile           the path holds no ftmon state (missing, or another's file)
        └── FencedError             a write refused: another replica leads the provider now

Callers decide by type: the poll maps each ProviderError subclass to what it does to the
provider's health; the CLI maps ConfigError to exit 78. Delivery outcomes are not
exceptions: a channel returns a `SendResult` saying whether a failure is transient.
"""

from __future__ import annotations


class FtmonError(Exception):
    pass


class ConfigError(FtmonError):
    """The configuration cannot be used; the message names the file, the key and what was
    expected."""

    def __init__(self, file: str, key: str, expected: str) -> None:
        self.file = file
        self.key = key
        self.expected = expected
        where = f"{file}: {key}" if key else file
        super().__init__(f"{where}: {expected}")


class ProviderError(FtmonError):
    """A failed provider request. `request_id` is the provider's id of the failed answer
    (`x-request-id`, or Together's `cf-ray`): what its support asks for; set at the HTTP
    boundary and logged with the failure."""

    request_id: str | None = None

    def __init__(self, provider: str, message: str, *, status_code: int | None = None) -> None:
        self.provider = provider
        self.status_code = status_code
        super().__init__(f"{provider}: {message}")


class ProviderAuthError(ProviderError):
    """The key was rejected: permanent until a person changes it."""


class ProviderQuotaError(ProviderAuthError):
    """Credits or quota exhausted (OpenAI 429 `insufficient_quota`, Together 402): retrying
    will not help until a person adds funds."""


class ProviderUnavailable(ProviderError):
    """Transient: the provider is down, slow or asks us to wait."""

    def __init__(
        self,
        provider: str,
        message: str,
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(provider, message, status_code=status_code)
        self.retry_after = retry_after


class ProviderNotFound(ProviderError):
    """404 for one job: the job may have vanished."""

    def __init__(self, provider: str, job_id: str) -> None:
        super().__init__(provider, f"job {job_id} not found", status_code=404)
        self.job_id = job_id


class ProviderSchemaError(ProviderError):
    """A payload that cannot be understood at all: a poll error, never a job alert."""

    def __init__(self, provider: str, field: str, job_id: str | None, detail: str) -> None:
        self.field = field
        self.job_id = job_id
        where = f"job {job_id} field {field}" if job_id else f"field {field}"
        super().__init__(provider, f"unreadable payload ({where}): {detail}")


class StoreError(FtmonError):
    pass


class NotAStateFile(StoreError):
    """A reader (`ftmon status`) found no ftmon state at the path: nothing there, or a
    file that belongs to something else. Readers never create or migrate a file."""


class FencedError(StoreError):
    """A poll's commit refused by the lease epoch: this replica no longer leads the
    provider (it was paused or cut off past its lease and another took over)."""

    def __init__(self, provider: str, epoch: int) -> None:
        self.provider = provider
        self.epoch = epoch
        super().__init__(f"{provider}: not recorded, this replica's lease (epoch {epoch}) is lost")

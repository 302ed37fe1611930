"""The one retry policy for every paid call: tenacity over the SDKs with their own retries off.

Retried: HTTP 429 (honouring Retry-After, capped at our longest backoff), 5xx, connection
errors and timeouts. Any other 4xx is our mistake or a bad key, so it fails at once.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import anthropic
import openai
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from mcp_server.config import Settings
from mcp_server.providers.base import ProviderError

log = logging.getLogger(__name__)
T = TypeVar("T")

_STATUS_ERRORS = (openai.APIStatusError, anthropic.APIStatusError)
_TIMEOUT_ERRORS = (openai.APITimeoutError, anthropic.APITimeoutError)
_CONNECTION_ERRORS = (openai.APIConnectionError, anthropic.APIConnectionError)


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff delays between attempts (so 1 + len(delays_s) attempts), jitter and timeout."""

    delays_s: Sequence[float] = (1, 2, 4, 8)
    jitter_s: float = 0.5
    timeout_s: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        retry = settings.retry
        return cls(tuple(retry.delays_s), retry.jitter_s, retry.timeout_s)

    @property
    def attempts(self) -> int:
        return 1 + len(self.delays_s)

    @property
    def retry_after_cap_s(self) -> float:
        # A server asking for minutes would outlast a client's tool timeout; we wait no longer
        # than our own longest backoff and let the next attempt find out.
        return max(self.delays_s, default=0.0)


def is_retryable(error: BaseException) -> bool:
    if isinstance(error, _CONNECTION_ERRORS):  # timeouts included
        return True
    if isinstance(error, _STATUS_ERRORS):
        return error.status_code == 429 or error.status_code >= 500
    return False


def retry_after_s(error: BaseException) -> float | None:
    """Seconds the server asked us to wait (retry-after-ms, retry-after seconds or date)."""
    response = getattr(error, "response", None)
    if response is None:
        return None
    headers = response.headers
    try:
        if (ms := headers.get("retry-after-ms")) is not None:
            return max(0.0, float(ms) / 1000)
        if (value := headers.get("retry-after")) is not None:
            try:
                return max(0.0, float(value))
            except ValueError:
                when = email.utils.parsedate_to_datetime(value)
                return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError):
        return None
    return None


def describe(error: BaseException) -> str:
    """A short reason for logs and messages: the status, or what went wrong on the wire."""
    if isinstance(error, _STATUS_ERRORS):
        message = _server_message(error)
        return f"HTTP {error.status_code}" + (f": {message[:200]}" if message else "")
    if isinstance(error, _TIMEOUT_ERRORS):
        return "timeout"
    if isinstance(error, _CONNECTION_ERRORS):
        cause = error.__cause__ or error.__context__
        return f"connection error ({type(cause).__name__ if cause else 'no response'})"
    return f"{type(error).__name__}: {error}"


def _server_message(error: openai.APIStatusError | anthropic.APIStatusError) -> str:
    """The server's own error message (both vendors nest it as error.message)."""
    body = error.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return inner["message"].strip()
    return str(error.message or "").strip()


def _wait(policy: RetryPolicy) -> Callable[[RetryCallState], float]:
    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        asked = retry_after_s(error) if error is not None else None
        if asked is not None:
            delay = min(asked, policy.retry_after_cap_s)
        else:
            delay = policy.delays_s[min(state.attempt_number, len(policy.delays_s)) - 1]
        # Jitter keeps many clients that failed together from retrying together.
        return delay + random.uniform(0, policy.jitter_s)

    return wait


async def call_with_retries(
    call: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    what: str,
    secret: str | None = None,
) -> T:
    """Run `call` under the policy; on final failure raise ProviderError naming `what`.

    `what` names the provider and model (e.g. "openai embeddings, model text-embedding-3-small");
    `secret` (the API key) is masked out of every message we build, whatever a server echoes.
    """

    def mask(text: str) -> str:
        return text.replace(secret, "***") if secret else text

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning(
            "%s failed (%s); retrying in %.2f s (attempt %d of %d)",
            what,
            mask(describe(error)) if error else "?",
            state.upcoming_sleep,
            state.attempt_number,
            policy.attempts,
        )

    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.attempts),
        wait=_wait(policy),
        retry=retry_if_exception(is_retryable),
        before_sleep=before_sleep,
        reraise=True,
    )
    attempts = 0
    try:
        async for attempt in retrying:
            with attempt:
                attempts = attempt.retry_state.attempt_number
                return await call()
    except (openai.APIError, anthropic.APIError) as error:
        reason = mask(describe(error))
        if is_retryable(error):
            message = f"{what} failed after {attempts} attempt(s): {reason}"
        else:
            message = f"{what} was refused (not retried): {reason}"
        # No chained SDK exception: its text is the server's, and we masked ours.
        raise ProviderError(message, status=getattr(error, "status_code", None)) from None
    raise AssertionError("unreachable: tenacity either returns or raises")

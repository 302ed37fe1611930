"""What every tool and resource argument must be before anything is written.

PostgreSQL refuses NUL characters in text and jsonb, and a lone surrogate (e.g. "\\ud800")
cannot be encoded as UTF-8 at all: both are refused here with a clear message instead of
failing inside the database driver.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

CONTENT_MAX = 100_000
QUERY_MAX = 10_000
METADATA_MAX = 20_000


def _encodable(value: str) -> None:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters (\\x00); PostgreSQL cannot store them")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(
            "must be valid Unicode; it contains a lone surrogate such as \\ud800"
        ) from None


def storable_text(value: str) -> str:
    _encodable(value)
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _check_json(value: Any) -> None:
    if isinstance(value, str):
        _encodable(value)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must not contain NaN or infinite numbers")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_json(key)
            _check_json(item)
    elif isinstance(value, list):
        for item in value:
            _check_json(item)


def storable_json(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    _check_json(value)
    if len(json.dumps(value, ensure_ascii=False)) > METADATA_MAX:
        raise ValueError(f"must be at most {METADATA_MAX} characters as JSON")
    return value


StorableText = Annotated[str, AfterValidator(storable_text)]
StorableJson = Annotated[dict[str, Any] | None, AfterValidator(storable_json)]


def _round_real(value: Any) -> Any:
    return round(value, 6) if isinstance(value, float) and math.isfinite(value) else value


def real(low: float, high: float) -> Any:
    """A number in [low, high] stored as PostgreSQL `real`.

    Rounded (before the bounds check, so the bounds stay in the published schema) so that
    1e-155 becomes 0 instead of an underflow error in the database.
    """
    bounded = Annotated[float, Field(ge=low, le=high, allow_inf_nan=False)]
    return Annotated[bounded, BeforeValidator(_round_real)]


# One component of a vector compared in single precision by pgvector.
VectorComponent = Annotated[float, Field(ge=-1e6, le=1e6, allow_inf_nan=False)]


# A turn said more than this far in the future is a mistake (a wrong year, a time zone
# mix-up), not a memory.
FUTURE_SLACK = dt.timedelta(days=1)


def past_timestamp(value: str | None) -> dt.datetime | None:
    """An ISO 8601 date or date and time ("2023-05-08", "2023-05-08T13:56:00+02:00"), not in
    the future; without a UTC offset it is taken as UTC."""
    if value is None:
        return None
    try:
        stamp = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(
            f"must be an ISO 8601 date or date and time such as 2023-05-08T13:56:00+02:00; "
            f"got {value[:60]!r}"
        ) from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)
    if stamp > dt.datetime.now(dt.UTC) + FUTURE_SLACK:
        raise ValueError(f"must not be in the future; got {value[:60]!r}")
    return stamp


PastTimestamp = Annotated[str | None, AfterValidator(past_timestamp)]

"""Secrets out of what we show: the password of a connection URL becomes ***."""

from __future__ import annotations

import re

_URL_PASSWORD = re.compile(r"(?<=://)([^:/@\s]+):([^@\s]*)@")


def redact_url(url: str) -> str:
    return _URL_PASSWORD.sub(r"\1:***@", url)

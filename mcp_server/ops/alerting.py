"""Operational alerts (a failed job, a stale backup, a unit systemd gave up on), sent through
the channel the budget alerts use: mail over SMTP and/or a Slack webhook from the env file."""

from __future__ import annotations

import socket

from mcp_server.budget import alerts as channel
from mcp_server.config import Settings


def text(subject: str, details: str) -> str:
    # The part before the first colon becomes the mail subject.
    return f"Cognitive Memory {subject} on {socket.gethostname()}: {details}"


def send(settings: Settings, subject: str, details: str) -> list[str]:
    """Send to every configured channel; return the channels used (empty: none configured)."""
    return channel.send(settings, text(subject, details))

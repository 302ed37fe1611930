"""Budget alerts by mail (SMTP) or Slack (incoming webhook), configured in the env file."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

import httpx

from mcp_server.budget.report import MonthStatus
from mcp_server.config import Settings


def message(status: MonthStatus, database: str) -> str:
    return (
        f"Cognitive Memory budget {status.level}: {status.spent_eur:.2f} of "
        f"{status.limit_eur:.2f} EUR ({status.used_pct:.0f}%) spent since "
        f"{status.month_start.isoformat()} on {database}; projected {status.projected_eur:.2f} EUR"
    )


def channels(settings: Settings) -> list[str]:
    found = []
    if settings.secret("SMTP_HOST") and settings.secret("ALERT_EMAIL_TO"):
        found.append("email")
    if settings.secret("SLACK_WEBHOOK_URL"):
        found.append("slack")
    return found


def send_email(settings: Settings, text: str) -> None:
    mail = EmailMessage()
    mail["Subject"] = text.split(":")[0]
    mail["From"] = settings.secret("ALERT_EMAIL_FROM") or "cognitive-memory@localhost"
    mail["To"] = settings.secret("ALERT_EMAIL_TO")
    mail.set_content(text)
    port = int(settings.secret("SMTP_PORT") or 25)
    with smtplib.SMTP(settings.secret("SMTP_HOST"), port, timeout=10) as smtp:
        if settings.secret("SMTP_USER"):
            smtp.starttls()
            smtp.login(settings.secret("SMTP_USER"), settings.secret("SMTP_PASSWORD") or "")
        smtp.send_message(mail)


def send_slack(settings: Settings, text: str) -> None:
    response = httpx.post(settings.secret("SLACK_WEBHOOK_URL"), json={"text": text}, timeout=10)
    response.raise_for_status()


def send(settings: Settings, text: str) -> list[str]:
    """Send through every configured channel; return the ones used."""
    senders = {"email": send_email, "slack": send_slack}
    used = channels(settings)
    for name in used:
        senders[name](settings, text)
    return used

"""Checklist fixtures: the expected settings (defaults.yml + --data) and the target in the header.

Not part of the normal test run (pytest's testpaths is tests/): these tests need a deployed host.
"""

from __future__ import annotations

import pytest

from provisioning.settings import SettingsError, resolve


def pytest_addoption(parser):
    parser.addoption(
        "--data",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a deploy setting that differs from provisioning/defaults.yml (repeatable)",
    )


def _overrides(config) -> dict[str, str]:
    pairs = {}
    for item in config.getoption("--data"):
        key, sep, value = item.partition("=")
        if not sep:
            raise pytest.UsageError(f"--data {item!r}: use KEY=VALUE")
        pairs[key.strip()] = value
    return pairs


def pytest_report_header(config):
    hosts = config.getoption("hosts", None) or "(none: pass --hosts=ssh://...)"
    overrides = _overrides(config)
    lines = [f"checklist target: {hosts}"]
    if overrides:
        lines.append("settings: " + ", ".join(f"{k}={v}" for k, v in overrides.items()))
    return lines


@pytest.fixture(scope="session")
def expected(pytestconfig) -> dict:
    """The deploy's settings for this host: what every assertion compares against."""
    try:
        return resolve(_overrides(pytestconfig), source="--data")
    except SettingsError as error:
        raise pytest.UsageError(str(error)) from None

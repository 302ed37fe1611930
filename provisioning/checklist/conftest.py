"""Checklist fixtures: the expected settings and the target in the report header.

The expectations are what the deploy recorded on the host (/etc/cognitive-memory/deployed.json,
written by pyinfra and Ansible alike), overridden by --data; a host without that file is held
to provisioning/defaults.yml. Not part of the normal test run (pytest's testpaths is tests/):
these tests need a deployed host.
"""

from __future__ import annotations

import pytest

from provisioning.deployed import DEPLOYED_FILE, parse
from provisioning.settings import SettingsError, resolve


def pytest_addoption(parser):
    parser.addoption(
        "--data",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"a deploy setting that overrides what the host's {DEPLOYED_FILE} says (repeatable)",
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
    lines = [f"checklist target: {hosts}", f"expected settings: {DEPLOYED_FILE} on the host"]
    if overrides:
        lines.append("overridden by: " + ", ".join(f"{k}={v}" for k, v in overrides.items()))
    return lines


def deployed_settings(host) -> dict | None:
    """What the deploy recorded on this host; None when it recorded nothing (an older deploy)."""
    found = host.file(DEPLOYED_FILE)
    if not found.exists:
        return None
    try:
        return parse(found.content_string, f"{DEPLOYED_FILE} on the host")
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None


_read: dict[int, dict | None] = {}


@pytest.fixture(scope="module")
def recorded(host) -> dict | None:
    """deployed.json of the host under test, read once per host (testinfra reuses its hosts)."""
    if id(host) not in _read:
        _read[id(host)] = deployed_settings(host)
    return _read[id(host)]


@pytest.fixture(scope="module")
def expected(pytestconfig, recorded) -> dict:
    """The deploy's settings for this host: what every assertion compares against."""
    try:
        return resolve(
            {**(recorded or {}), **_overrides(pytestconfig)}, source=f"{DEPLOYED_FILE} and --data"
        )
    except SettingsError as error:
        raise pytest.UsageError(str(error)) from None

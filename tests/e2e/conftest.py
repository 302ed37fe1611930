"""One deployed throwaway host for the whole e2e run: booted once, shared, torn down at the end.

test_deploy.py deploys it first (and measures that); later modules deploy it again with
their own settings, which is a no-op or a small change, or the first deploy when run alone.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from provisioning import testhost
from provisioning.settings import resolve
from tests.conftest import SHARED_HOST_MODULES
from tests.support.deployment import FAULT_SETTINGS, REPO, TIMES, Deployment, run, write_inventory


def pytest_collection_modifyitems(items):
    """A module that uses the shared host must run on that host's xdist worker."""
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        if "deployment" in item.fixturenames and module not in SHARED_HOST_MODULES:
            raise pytest.UsageError(
                f"{module} uses the shared deployed host: add it to SHARED_HOST_MODULES "
                "in tests/conftest.py"
            )


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    """One wheel for every deploy of the run, so the no-op re-run installs the same bytes."""
    out = tmp_path_factory.mktemp("wheel")
    built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), "."])
    assert built.returncode == 0, built.stderr
    return next(out.glob("cognitive_memory-*.whl"))


@pytest.fixture(scope="session")
def deployment(wheel, tmp_path_factory):
    try:
        testhost.check_requirements()
    except testhost.TestHostError as error:
        pytest.skip(str(error))
    started = time.monotonic()
    host = testhost.boot()
    TIMES["boot_s"] = round(time.monotonic() - started, 1)
    try:
        extra = {**FAULT_SETTINGS, "cogmem_wheel": str(wheel)}
        inventory = write_inventory(tmp_path_factory.mktemp("inventory"), host.name, extra)
        from provisioning.inventories import demo_data, testhost_entry

        _, data = testhost_entry(host.name, extra={**demo_data(), **extra})
        yield Deployment(host, inventory, resolve(data))
    finally:
        testhost.teardown(host)
        report = REPO / "reports" / "e2e-deploy-times.json"
        report.parent.mkdir(exist_ok=True)
        report.write_text(json.dumps(TIMES, indent=2) + "\n")
        print(f"\ne2e deploy wall times (s): {TIMES}")

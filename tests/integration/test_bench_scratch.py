"""A benchmark's private cluster is stopped and deleted when the benchmark's process ends."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from mcp_server.db import embedded
from tests.conftest import REPO

RUN = """
from bench import scratch
from mcp_server.db import embedded
folder = scratch.private_cluster("cogmem-scratch-test-")
embedded.embedded_url("postgres")
print(folder, embedded.state().postmaster, flush=True)
"""


def test_the_private_cluster_is_gone_after_the_run(tmp_path):
    # The system's temporary folder: below pytest's, the cluster's socket path is too long.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", RUN], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    folder, postmaster = done.stdout.split()
    assert Path(folder).name.startswith("cogmem-scratch-test-")
    assert not Path(folder).exists(), "the cluster's folder was left behind"
    assert not embedded.alive(int(postmaster)), "the cluster still runs"

"""The deploy's huge page reservation holds PostgreSQL's whole shared memory.

Measured on a real cluster (the session's embedded one): its shared memory at its own
shared_buffers, against what provisioning/huge_pages.py reserves for that size.
"""

from __future__ import annotations

import psycopg

from provisioning import huge_pages


def test_the_reservation_holds_the_clusters_shared_memory(cluster_admin_url):
    with psycopg.connect(cluster_admin_url) as conn:
        shared_buffers = conn.execute("SHOW shared_buffers").fetchone()[0]
        needed_mb = conn.execute(
            "SELECT setting::bigint FROM pg_settings WHERE name = 'shared_memory_size'"
        ).fetchone()[0]
    reserved_mb = huge_pages.count(shared_buffers, 2048) * 2
    print(f"shared_buffers {shared_buffers}: needs {needed_mb} MB, reserved {reserved_mb} MB")
    assert needed_mb <= reserved_mb <= needed_mb * 1.1 + 16

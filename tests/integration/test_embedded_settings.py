"""The embedded cluster starts with the settings mcp_server.db.embedded_settings writes."""

from __future__ import annotations

import psycopg

from mcp_server.db import embedded_settings


def test_the_cluster_runs_with_shared_buffers_sized_for_the_vector_index(cluster_admin_url):
    # The session's cluster was created by embedded_url: initdb, the settings file, start.
    with psycopg.connect(cluster_admin_url) as conn:
        mb = conn.execute(
            "SELECT setting::bigint * 8 / 1024 FROM pg_settings WHERE name = 'shared_buffers'"
        ).fetchone()[0]
        source = conn.execute(
            "SELECT sourcefile FROM pg_settings WHERE name = 'shared_buffers'"
        ).fetchone()[0]
    assert mb == embedded_settings.shared_buffers_mb() > 128
    assert source.endswith(embedded_settings.FILE)

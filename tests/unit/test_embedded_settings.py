"""The embedded cluster's settings file: sized from the RAM, included once, rewritten on change."""

from __future__ import annotations

import pytest

from mcp_server.db import embedded_settings

GB = 2**30


@pytest.mark.parametrize(
    ("ram", "expected"), [(GB // 4, 128), (4 * GB, 1024), (8 * GB, 2048), (64 * GB, 2048)]
)
def test_shared_buffers_is_a_quarter_of_the_ram_within_bounds(ram, expected):
    assert embedded_settings.shared_buffers_mb(ram) == expected


def test_the_settings_file_is_included_once_and_rewritten_only_when_it_changes(tmp_path):
    conf = tmp_path / "postgresql.conf"
    conf.write_text("max_connections = 100\n")
    assert embedded_settings.write(tmp_path, 4 * GB)
    assert not embedded_settings.write(tmp_path, 4 * GB)  # nothing to do the second time
    assert conf.read_text().splitlines().count(embedded_settings.INCLUDE) == 1
    assert conf.read_text().startswith("max_connections = 100\n")
    settings = tmp_path / embedded_settings.FILE
    assert "shared_buffers = '1024MB'" in settings.read_text()
    assert embedded_settings.write(tmp_path, 16 * GB)  # another machine: new size, same include
    assert "shared_buffers = '2048MB'" in settings.read_text()
    assert conf.read_text().splitlines().count(embedded_settings.INCLUDE) == 1

"""`cognitive-memory restore --time`: the target is checked before anything changes."""

from __future__ import annotations

import datetime as dt
import subprocess

import pytest

from mcp_server.ops.errors import OpsError
from mcp_server.ops.pitr import parse_time
from tests.support.commands import cognitive_memory


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-26 01:30:00+00", dt.datetime(2026, 11, 26, 1, 30, tzinfo=dt.UTC)),
        ("2026-11-26T01:30:00Z", dt.datetime(2026, 11, 26, 1, 30, tzinfo=dt.UTC)),
        ("2026-11-26 01:30", dt.datetime(2026, 11, 26, 1, 30, tzinfo=dt.UTC)),  # UTC if no zone
        ("2026-11-26 02:30:00+01:00", dt.datetime(2026, 11, 26, 1, 30, tzinfo=dt.UTC)),
    ],
)
def test_a_recovery_target_is_read_as_a_moment(text, expected):
    assert parse_time(text) == expected


@pytest.mark.parametrize("text", ["yesterday", "01:30", "2026-11-26 01:30:00'; DROP", ""])
def test_anything_else_is_refused_with_an_example(text):
    with pytest.raises(OpsError, match="2026-11-26 01:30:00"):
        parse_time(text)


@pytest.mark.parametrize("args", [[], ["x.dump", "--time", "2026-11-26 01:30:00+00"]])
def test_restore_takes_a_dump_or_a_time_not_both_nor_neither(args):
    result = subprocess.run(
        cognitive_memory("restore", "--yes", *args), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "give a DUMP or --time" in result.stderr

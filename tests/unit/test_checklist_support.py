"""The checklist's own parsing: listening sockets from /proc and the deployed settings file."""

from __future__ import annotations

import pytest

from provisioning.checklist.support import listening_sockets, listens_on
from provisioning.deployed import NOT_RECORDED, parse, to_json
from provisioning.render import render
from provisioning.settings import DEFAULTS, resolve

# /proc/net/tcp and tcp6 as a host with PostgreSQL on 127.0.0.1:5433 and ::1:5433, the server on
# 127.0.0.1:8765, sshd on every IPv4 address (port 22), and one established connection.
PROC_NET_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1539 00000000:0000 0A 00000000:00000000 00:00000000 00000000   104        0 1
   1: 0100007F:223D 00000000:0000 0A 00000000:00000000 00:00000000 00000000   999        0 2
   2: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3
   3: 0100007F:1539 0100007F:A2B4 01 00000000:00000000 00:00000000 00000000   104        0 4
  sl  local_address                         remote_address                        st tx_queue
   0: 00000000000000000000000001000000:1539 00000000000000000000000000000000:0000 0A 00000000:0
"""


class FakeProc:
    """Answers the one command listening_sockets runs, as a host would."""

    def check_output(self, command: str) -> str:
        assert "/proc/net/tcp" in command
        return PROC_NET_TCP


def test_listening_sockets_are_read_from_proc_without_ss():
    assert listening_sockets(FakeProc()) == {
        ("127.0.0.1", 5433),
        ("127.0.0.1", 8765),
        ("0.0.0.0", 22),
        ("::1", 5433),
    }


@pytest.mark.parametrize(
    ("address", "port", "listening"),
    [
        ("127.0.0.1", 8765, True),
        ("::1", 5433, True),
        ("127.0.0.1", 22, True),  # the wildcard of its family
        ("127.0.0.1", 9999, False),
        ("::1", 8765, False),
    ],
)
def test_listens_on(address, port, listening):
    assert listens_on(FakeProc(), address, port) is listening


def test_the_recorded_settings_hold_no_control_machine_paths_and_read_back(tmp_path):
    wheel = tmp_path / "cognitive_memory-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"")
    settings = resolve({"postgresql_port": 5433, "cogmem_wheel": str(wheel)})
    text = render("deployed.json.j2", {}, cogmem_deployed=to_json(settings))
    back = parse(text)
    assert back["postgresql_port"] == 5433
    assert not set(back) & NOT_RECORDED
    assert resolve(back) == {**settings, **{k: DEFAULTS[k] for k in NOT_RECORDED}}


@pytest.mark.parametrize("text", ["not json", "[1, 2]"])
def test_a_broken_deployed_file_is_named(text):
    with pytest.raises(ValueError, match=r"deployed\.json"):
        parse(text)


def test_the_table_repeats_the_failed_checks_under_it(capsys):
    from provisioning.checklist.__main__ import print_table

    def row(nodeid: str, outcome: str, reason: str = "") -> dict:
        return {"nodeid": nodeid, "host": "ssh://h", "params": [], "outcome": outcome,
                "seconds": 0.1, "reason": reason}  # fmt: skip

    rows = [
        row("provisioning/checklist/test_1_infrastructure.py::test_the_host_runs_debian", "passed"),
        row("provisioning/checklist/test_6_service.py::test_the_unit_is_active", "failed",
            "AssertionError: [inactive] is not active"),
        *[row(f"provisioning/checklist/test_7_schedules.py::test_job_{n}", "passed")
          for n in range(40)],
    ]  # fmt: skip
    print_table(rows, "checklist")
    printed = capsys.readouterr().out
    tail = printed[printed.index("Job 39") :]  # below the table's last row
    assert "Failed:" in tail
    assert "Service: The unit is active: AssertionError: [inactive] is not active" in tail
    assert tail.rstrip().endswith("41 passed, 1 failed, 0 notes")

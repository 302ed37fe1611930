"""The runbook (docs/operations.md): every command is in a block a test runs."""

from __future__ import annotations

import re

from tests.support.runbook import OFFSITE_RUNBOOK, RUNBOOK, blocks, commands

# Control-machine commands and the e2e test that runs each of them (with its own host names).
CONTROL = {
    ".venv/bin/cognitive-memory deploy check": "tests/e2e/test_operations.py (the fixture)",
    ".venv/bin/cognitive-memory deploy": "tests/e2e/test_operations.py, tests/e2e/test_deploy.py",
    ".venv/bin/cognitive-memory checklist": "tests/e2e/test_operations.py, test_deploy.py",
    "scp": "tests/e2e/test_deploy.py::test_a_new_host_recovers_from_a_backup (copies the files)",
    ".venv/bin/ansible-playbook -i inventory/my_server.yml provisioning/ansible/site.yml": (
        "tests/e2e/test_ansible_parity.py (first run, --check --diff, second run)"
    ),
}
# docs/offsite-recovery.md: the deploys from the backup host, by each tool.
OFFSITE_CONTROL = {
    ".venv/bin/cognitive-memory deploy inventory/my_servers.py --data cogmem_backup_name=": (
        "tests/e2e/test_offsite_recovery.py (C deployed from B's repository)"
    ),
    ".venv/bin/cognitive-memory checklist": "tests/e2e/test_offsite_recovery.py",
    ".venv/bin/ansible-playbook -i inventory/my_servers.yml provisioning/ansible/site.yml": (
        "tests/e2e/test_ansible_parity.py::test_the_playbook_recovers_a_fresh_host_from_the_backup_host"
    ),
}


def test_every_block_says_where_it_runs():
    assert blocks(), "no command blocks found"
    for info, body in blocks():
        assert info in ("sh host", "sh control"), f"untagged block:\n{body}"


def test_every_control_command_is_one_a_test_runs():
    for line in commands("control"):
        assert any(line.startswith(prefix) for prefix in CONTROL), line


def test_every_control_command_of_the_offsite_runbook_is_one_a_test_runs():
    lines = commands("control", OFFSITE_RUNBOOK)
    assert any("ansible-playbook" in line for line in lines)
    for line in lines:
        assert any(line.startswith(prefix) for prefix in OFFSITE_CONTROL), line


def test_the_host_blocks_hold_the_seeds_operator_commands_in_their_safe_form():
    host = commands("host")
    assert 'cognitive-memory psql -c "SELECT 1;"' in host
    assert "grep budget /etc/cron.d/cognitive-memory" in host
    assert any(line.startswith("cognitive-memory restore --yes") for line in host)
    assert any(line.startswith("/opt/cognitive-memory/bin/restore_postgres.sh") for line in host)


def test_every_fix_in_the_troubleshooting_table_is_a_host_command_a_test_runs():
    text = RUNBOOK.read_text()
    table = text.split("## Troubleshooting", 1)[1].split("```", 1)[0]
    lines = commands("host")
    run = lines + [part.strip() for line in lines for part in line.split("&&")]
    for row in [r for r in table.splitlines() if r.startswith("| ") and "---" not in r][1:]:
        fix = row.rstrip(" |").rsplit(" | ", 1)[1]
        for command in [c for c in re.findall(r"`([^`]+)`", fix) if " " in c]:  # not values
            assert command in run, f"{command!r} (troubleshooting) is in no `sh host` block"

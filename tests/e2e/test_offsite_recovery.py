"""Disaster recovery from a backup host: appliance A archives to B, A is lost, C takes over.

deploy A with backup host B (one run) -> memories stored through the MCP server -> the cron jobs
run as cron would (dump, copy to B, pgBackRest backup) -> B unreachable: detected, nothing there
changed -> a time T, more writes after it, WAL archived -> A destroyed -> C deployed from B's
repository to T -> every row up to T and none after, hybrid_search works, checklist green on C
-> `restore --time` on C -> D deployed from the newest dump on B (cogmem_restore_from: dump): the
rows of that dump, hybrid_search, and D's own backups going on in the stanza it took over.

Four throwaway hosts booted in parallel; about 6 minutes. Needs root, debootstrap and
systemd-nspawn.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field

import pytest

from provisioning import testhost
from tests.support import recovery

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

STORED_BEFORE = [
    ("user", "Our nightly backups go to the backup host over SFTP"),
    ("assistant", "Noted: backups leave the host every night."),
    ("user", "The recovery point objective is five minutes"),
]


@dataclass
class Scene:
    a: recovery.Appliance
    b: testhost.TestHost
    c: testhost.TestHost
    d: testhost.TestHost
    folder: object
    wheel: object
    facts: dict = field(default_factory=dict)


@pytest.fixture(scope="module")
def scene(wheel, tmp_path_factory):
    try:
        testhost.check_requirements()
    except testhost.TestHostError as error:
        pytest.skip(str(error))
    folder = tmp_path_factory.mktemp("offsite")
    hosts = recovery.boot_all("8b-e2e-a", "8b-e2e-b", "8b-e2e-c", "8b-e2e-d")
    a, b, c, d = hosts
    try:
        appliance = recovery.appliance(folder, a, b, cogmem_wheel=str(wheel))
        yield Scene(appliance, b, c, d, folder, wheel)
    finally:
        recovery.teardown_all([h for h in hosts if testhost.leftovers(h)])


def test_one_run_deploys_the_appliance_and_its_backup_host(scene):
    result = recovery.deploy(scene.a)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert recovery.grand_total(output)["errors"] == 0
    info = json.loads(scene.a.pgbackrest("info", "--output=json").stdout)[0]
    assert info["status"]["code"] == 0 and [b["type"] for b in info["backup"]] == ["full"]
    # the keys were made on A and never printed; B holds only their public halves
    for key in (
        "/var/lib/postgresql/.ssh/cogmem-backup",
        "/opt/cognitive-memory/offsite/cogmem-backup",
    ):
        private = (scene.a.host.root / key.lstrip("/")).read_text()
        assert private.split("\n")[1] not in output
    authorized = scene.b.run("cat /srv/cognitive-memory-backups/.ssh/authorized_keys").stdout
    assert authorized.count("restrict ssh-ed25519 ") == 2 and "PRIVATE" not in authorized


def test_the_cron_jobs_put_a_dump_and_a_backup_on_the_backup_host(scene):
    a = scene.a
    said = "The dump keeps the lighthouse keeper's log"
    turn = a.call("store_raw_dialogue", {"session_id": "dump", "speaker": "user", "content": said})
    insight = a.call("compress_to_l2_insight", {"content": said, "source_ids": [turn["id"]]})
    scene.facts["dumped"] = (a.query("SELECT id, content FROM l0_raw ORDER BY id"), insight["id"])
    for tag in ("cognitive-memory-backup", "cognitive-memory-offsite", "cognitive-memory-pitr"):
        result = recovery.run_cron_job(a, tag)
        assert result.returncode == 0, recovery.journal(a, tag)
    remote = f"/srv/cognitive-memory-backups/{a.host.name}"
    listing = scene.b.run(f"ls {remote}/postgres").stdout.split()
    assert any(name.endswith(".dump") for name in listing), listing
    info = json.loads(a.pgbackrest("info", "--output=json").stdout)[0]
    assert [b["type"] for b in info["backup"]][-1] in ("diff", "full")


def test_the_runbook_commands_work_on_the_appliance(scene):
    runbook = (recovery.REPO / "docs" / "offsite-recovery.md").read_text()
    blocks = re.findall(r"^```sh offsite-host\n(.*?)^```", runbook, re.S | re.M)
    commands = [line for block in blocks for line in block.splitlines() if line.strip()]
    assert len(commands) >= 3
    for command in commands:
        result = scene.a.sh(command)
        assert result.returncode == 0, f"{command}:\n{result.stdout}{result.stderr}"


def test_an_unreachable_backup_host_is_detected_and_changes_nothing_there(scene):
    a, b = scene.a, scene.b
    remote = f"/srv/cognitive-memory-backups/{a.host.name}"
    inventory = f"cd {remote} && find postgres l2-exports -type f | sort | xargs sha256sum"
    before = b.run(inventory).stdout
    assert recovery.run_cron_job(a, "cognitive-memory-backup").returncode == 0
    b.run("systemctl stop ssh.service", check=True)
    try:
        result = recovery.run_cron_job(a, "cognitive-memory-offsite")
        log = recovery.journal(a, "cognitive-memory-offsite")
        assert result.returncode == 3
        assert "backup host" in log and "unreachable" in log, log
    finally:
        b.run("systemctl start ssh.service", check=True)
    # the copies there are as they were: no new dump, nothing half-written under a temporary name
    assert b.run(inventory).stdout == before
    assert b.run(f"find {remote}/postgres {remote}/l2-exports -name '.*'").stdout == ""


def test_a_fresh_host_recovers_to_a_point_in_time_from_the_backup_host(scene, tmp_path):
    a = scene.a
    turns = [
        a.call("store_raw_dialogue", {"session_id": "dr", "speaker": who, "content": text})
        for who, text in STORED_BEFORE
    ]
    insight = a.call(
        "compress_to_l2_insight",
        {
            "content": "Backups leave the host nightly; recovery point five minutes",
            "source_ids": [t["id"] for t in turns],
        },
    )
    time.sleep(1.1)
    target_time = a.sh("date -u '+%Y-%m-%d %H:%M:%S.%6N+00'").stdout.strip()
    time.sleep(1.1)
    late = a.call("store_raw_dialogue", {"session_id": "dr", "speaker": "user", "content": "late"})
    before = a.query(
        f"SELECT id, content FROM l0_raw WHERE created_at <= '{target_time}' ORDER BY id"
    )
    insights = a.query(
        f"SELECT id FROM l2_insights WHERE created_at <= '{target_time}' ORDER BY id"
    )
    # push the WAL holding the last write to B, as archive_timeout would within a minute
    assert a.pgbackrest("check").returncode == 0
    testhost.teardown(a.host)  # the disaster

    c = recovery.appliance(
        scene.folder, scene.c, scene.b, cogmem_wheel=str(scene.wheel),
        cogmem_backup_name=a.host.name, cogmem_restore_from=target_time,
    )  # fmt: skip
    started = time.monotonic()
    result = recovery.deploy(c)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    scene.facts["recovery_deploy_s"] = round(time.monotonic() - started, 1)

    assert c.query("SELECT id, content FROM l0_raw ORDER BY id") == before
    assert str(late["id"]) not in c.query("SELECT string_agg(id::text, ',') FROM l0_raw")
    assert c.query("SELECT id FROM l2_insights ORDER BY id") == insights
    found = c.call("hybrid_search", {"query_text": "recovery point backups", "top_k": 3})
    assert found["results"][0]["id"] == insight["id"]

    scene.facts["c"] = c
    green = recovery.checklist(c, tmp_path / "checklist.xml")
    assert green.returncode == 0, green.stdout[-8000:]
    # C carries on A's backups: its WAL reaches the same repository on a new timeline
    assert c.pgbackrest("check").returncode == 0


def test_restore_time_brings_the_cluster_back_to_a_moment_on_a_deployed_host(scene):
    c = scene.facts.get("c")
    if c is None:
        pytest.skip("the fresh host did not come up")
    kept = c.call(
        "store_raw_dialogue", {"session_id": "pitr", "speaker": "user", "content": "keep"}
    )
    time.sleep(1.1)
    moment = c.sh("date -u '+%Y-%m-%d %H:%M:%S.%6N+00'").stdout.strip()
    time.sleep(1.1)
    gone = c.call(
        "store_raw_dialogue", {"session_id": "pitr", "speaker": "user", "content": "gone"}
    )
    assert c.pgbackrest("check").returncode == 0  # the WAL past the moment is on the backup host
    result = c.sh(f"/usr/local/bin/cognitive-memory restore --yes --time '{moment}'", timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    ids = c.query("SELECT string_agg(id::text, ',' ORDER BY id) FROM l0_raw").split(",")
    assert str(kept["id"]) in ids and str(gone["id"]) not in ids
    assert c.sh("systemctl is-active cognitive-memory-mcp.service").stdout.strip() == "active"
    assert c.sh("ls -d /var/lib/postgresql/17/main.previous-*").returncode == 0  # kept
    assert c.call("ping", {})["status"] == "ok"


def test_a_fresh_host_comes_back_from_the_newest_dump_on_the_backup_host(scene):
    """After the cron test's dump (the newest one the backup host has): a new cluster, so the
    host takes the stanza over and its own full backup is the base of its recoveries."""
    if "dumped" not in scene.facts:
        pytest.skip("no dump was copied to the backup host")
    rows, insight = scene.facts["dumped"]
    d = recovery.appliance(
        scene.folder, scene.d, scene.b, cogmem_wheel=str(scene.wheel),
        cogmem_backup_name=scene.a.host.name, cogmem_restore_from="dump",
    )  # fmt: skip
    result = recovery.deploy(d)
    output = result.stdout + result.stderr
    failed = [line for line in output.splitlines() if scene.d.name in line and "rror" in line]
    assert result.returncode == 0, "\n".join(failed) + output[-3000:]
    assert d.query("SELECT id, content FROM l0_raw ORDER BY id") == rows  # nothing after it
    found = d.call("hybrid_search", {"query_text": "lighthouse keeper log", "top_k": 3})
    assert found["results"][0]["id"] == insight
    assert d.sh("systemctl is-active cognitive-memory-mcp.service").stdout.strip() == "active"
    # D archives and backs up where A did, as a database of its own
    assert d.pgbackrest("check").returncode == 0
    info = json.loads(d.pgbackrest("info", "--output=json").stdout)[0]
    current = max(db["id"] for db in info["db"])
    assert current > 1 and any(b["database"]["id"] == current for b in info["backup"])

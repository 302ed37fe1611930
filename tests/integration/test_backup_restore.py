"""Backups and restores against the real embedded PostgreSQL, through the commands and the
seed's scripts, including the faults: a damaged dump, a second backup, the database gone, a
full disk. Each fault is detected, alerted (a real SMTP server on loopback), the previous good
dump stays intact, and nothing half-written is left looking good."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.conftest import REPO
from tests.support.ops import Appliance, Mailbox, make_appliance

pytestmark = pytest.mark.timeout(180)
SUFFIXES = ("__restoring", "__previous", "__restore_test")
PYTHON_CLI = [sys.executable, "-m", "mcp_server.cli"]


@pytest.fixture
def mailbox():
    with Mailbox() as box:
        yield box


@pytest.fixture
def appliance(tmp_path, migrated_database, cluster_admin_url, mailbox) -> Appliance:
    settings, url = migrated_database
    yield make_appliance(tmp_path, settings.database.name, url, secrets=mailbox.secrets())
    with psycopg.connect(cluster_admin_url, autocommit=True) as admin:
        for suffix in SUFFIXES:  # what restores made beside the test database
            name = sql.Identifier(settings.database.name + suffix)
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))


def add_turns(url: str, *contents: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for content in contents:
            conn.execute(
                "INSERT INTO l0_raw (session_id, speaker, content) VALUES ('s', 'user', %s)",
                [content],
            )


def turns(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT content FROM l0_raw ORDER BY id")]


def databases(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute("SELECT datname FROM pg_database")}


def backup(appliance: Appliance, *args: str):
    done = appliance.run("backup", "run", *args)
    assert done.returncode == 0, done.stderr
    return done.stdout.split("backup written: ", 1)[1].split(" (")[0]


def files_in(folder) -> set[str]:
    return {p.name for p in folder.iterdir()}


def assert_only_sealed_dumps(folder) -> None:
    """Every dump has its checksum and manifest; nothing partial is left behind."""
    names = files_in(folder) - {".backup.lock"}
    assert not [n for n in names if n.endswith(".partial")], names
    for name in [n for n in names if n.endswith(".dump")]:
        assert {f"{name}.sha256", f"{name}.json"} <= names, names
        check = subprocess.run(["sha256sum", "-c", f"{name}.sha256"], cwd=folder,
                               capture_output=True, text=True)  # fmt: skip
        assert check.returncode == 0, check.stdout + check.stderr


def script(appliance: Appliance, name: str, *args: str, stdin: str = ""):
    return subprocess.run([str(REPO / "scripts" / name), *args], env=appliance.env, input=stdin,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


# --- the normal path ---------------------------------------------------------------------------


def test_the_seed_scripts_back_up_sealed_and_restore_by_swapping(appliance):
    add_turns(appliance.url, "kept")
    done = script(appliance, "backup_postgres.sh", "--env", "development")
    assert done.returncode == 0, done.stderr
    dump = done.stdout.split("backup written: ", 1)[1].split(" (")[0]
    assert_only_sealed_dumps(appliance.backups)
    for path in (dump, f"{dump}.sha256", f"{dump}.json"):
        assert os.stat(path).st_mode & 0o777 == 0o600
    manifest = json.loads(Path(f"{dump}.json").read_text())
    assert manifest["rows"]["l0_raw"] == 1 and manifest["database"] == appliance.database

    add_turns(appliance.url, "written after the backup")
    restored = script(appliance, "restore_postgres.sh", "--env", "development", "--yes", dump)
    assert restored.returncode == 0, restored.stderr
    assert turns(appliance.url) == ["kept"]
    previous = appliance.url.replace(f"/{appliance.database}?", f"/{appliance.database}__previous?")
    assert turns(previous) == ["kept", "written after the backup"]  # the replaced one, kept
    assert f"{appliance.database}__restoring" not in databases(appliance.url)
    for step in ("restored", "row counts match the dump", "swapped it in", "done:"):
        assert step in restored.stdout


def test_a_restore_asks_for_the_database_name(appliance):
    add_turns(appliance.url, "kept")
    dump = backup(appliance)
    add_turns(appliance.url, "newer")
    refused = appliance.run("restore", dump, stdin="yes\n")
    assert refused.returncode == 2 and "not confirmed: nothing changed" in refused.stderr
    assert turns(appliance.url) == ["kept", "newer"]
    accepted = appliance.run("restore", dump, stdin=f"{appliance.database}\n")
    assert accepted.returncode == 0, accepted.stderr
    assert turns(appliance.url) == ["kept"]


def test_the_restore_test_compares_counts_and_finds_an_insight(appliance):
    add_turns(appliance.url, "a turn")
    vector = "[" + ",".join(["0.1"] * 383 + ["0.9"]) + "]"
    with psycopg.connect(appliance.url, autocommit=True) as conn:
        conn.execute("INSERT INTO l2_insights (content, embedding, embedding_model) VALUES "
                     "('backups are verified weekly', %s::vector, 'hashing-lexical-v1')",
                     [vector])  # fmt: skip
        insight = conn.execute("SELECT max(id) FROM l2_insights").fetchone()[0]
    backup(appliance)
    done = appliance.run("backup", "test-restore", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["searched_insight"] == insight
    assert result["rows"]["l0_raw"] == 1 and result["rows"]["l2_insights"] == 1
    assert f"{appliance.database}__restore_test" not in databases(appliance.url)


def reseal_manifest(dump: str) -> None:
    """Seal a changed manifest as the backup would have (a dump whose counts do not add up)."""
    import hashlib

    lines = Path(f"{dump}.sha256").read_text().splitlines()
    digest = hashlib.sha256(Path(f"{dump}.json").read_bytes()).hexdigest()
    lines[1] = f"{digest}  {Path(dump).name}.json"
    Path(f"{dump}.sha256").write_text("\n".join(lines) + "\n")


def test_a_restore_that_does_not_add_up_leaves_the_live_database(appliance):
    add_turns(appliance.url, "kept")
    dump = backup(appliance)
    manifest = json.loads(Path(f"{dump}.json").read_text())
    manifest["rows"]["l0_raw"] = 5  # the restored copy will not match ...
    Path(f"{dump}.json").write_text(json.dumps(manifest))
    add_turns(appliance.url, "live")
    tampered = appliance.run("restore", "--yes", dump)  # ... a changed manifest is refused,
    assert tampered.returncode == 2 and ".json does not match its checksum" in tampered.stderr
    reseal_manifest(dump)  # ... and one sealed that way fails the row count comparison
    done = appliance.run("restore", "--yes", dump)
    assert done.returncode == 2 and "row counts differ" in done.stderr
    assert turns(appliance.url) == ["kept", "live"]
    assert not {appliance.database + s for s in SUFFIXES} & databases(appliance.url)


def test_psql_connects_as_the_app_does(appliance):
    done = appliance.run("psql", "-X", "-A", "-t", "-c", "SELECT current_database(), 1;")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{appliance.database}|1"


# --- faults ------------------------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["flipped byte", "truncated"])
def test_a_damaged_dump_is_refused_alerted_and_the_older_good_one_still_counts(
    appliance, mailbox, damage
):
    add_turns(appliance.url, "first")
    older = backup(appliance)
    add_turns(appliance.url, "second")
    newest = backup(appliance)
    data = bytearray(Path(newest).read_bytes())
    if damage == "flipped byte":
        data[len(data) // 2] ^= 0x01
    else:
        data = data[: len(data) - 100]
    Path(newest).write_bytes(bytes(data))

    add_turns(appliance.url, "live")
    refused = appliance.run("restore", "--yes", newest)
    assert refused.returncode == 2 and "does not match its checksum" in refused.stderr
    assert turns(appliance.url) == ["first", "second", "live"]
    listed = {row["dump"]: row["state"] for row in json.loads(
        appliance.run("backup", "list", "--json").stdout)}  # fmt: skip
    assert listed == {newest: "DAMAGED", older: "good"}
    check = appliance.run("backup", "check", "--json")
    assert check.returncode == 1  # the daily check reports it ...
    assert json.loads(check.stdout) | {"age_hours": 0} == {
        "fresh": False, "dump": older, "damaged": [newest], "age_hours": 0,
        "max_age_hours": 26}  # fmt: skip
    weekly = appliance.run("job", "restore-test", "--", *PYTHON_CLI, "backup", "test-restore")
    assert weekly.returncode == 2 and "does not match its checksum" in weekly.stdout
    assert "does not match its checksum" in Mailbox.body(mailbox.messages[-1])  # ... alerted
    tested = appliance.run("backup", "test-restore", "--json", older)  # the older one is fine
    assert tested.returncode == 0 and json.loads(tested.stdout)["dump"] == older


def test_a_dump_without_its_checksum_is_refused(appliance):
    dump = backup(appliance)
    os.unlink(f"{dump}.sha256")
    done = appliance.run("restore", "--yes", dump)
    assert done.returncode == 2 and "has no checksum file" in done.stderr


def watched_backup(appliance: Appliance, env: dict | None = None):
    """The backup as cron runs it: under `cognitive-memory job`, which records and alerts."""
    return appliance.run("job", "backup", "--", *PYTHON_CLI, "backup", "run", env=env)


def job_state(appliance: Appliance, job: str = "backup") -> dict:
    return json.loads((appliance.state / f"{job}.json").read_text())


def assert_alerted(mailbox: Mailbox, fragment: str) -> None:
    assert mailbox.messages, "no alert mail arrived"
    mail = mailbox.messages[-1]
    assert mail["Subject"].startswith("Cognitive Memory backup failed on ")
    assert mail["To"] == "ops@example.org"
    assert fragment in Mailbox.body(mail)


def test_a_second_backup_while_one_runs_is_refused_and_alerted(appliance, mailbox):
    good = backup(appliance)
    with open(appliance.backups / ".backup.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a backup in progress holds this
        done = watched_backup(appliance)
    assert done.returncode == 2
    assert "another backup is running" in done.stdout
    assert job_state(appliance)["ok"] is False
    assert_alerted(mailbox, "another backup is running")
    assert_only_sealed_dumps(appliance.backups)
    assert {p.name for p in appliance.backups.glob("*.dump")} == {os.path.basename(good)}
    again = watched_backup(appliance)  # the lock is free again: the next run succeeds
    assert again.returncode == 0 and job_state(appliance)["ok"] is True


def test_postgresql_down_at_backup_time_is_alerted(appliance, mailbox):
    good = backup(appliance)
    env_file = appliance.config / ".env.development"
    secrets = env_file.read_text().split("\n", 1)[1]
    env_file.write_text(f'DATABASE_URL="postgresql://postgres@127.0.0.1:9/{appliance.database}"'
                        f"\n{secrets}")  # fmt: skip
    done = watched_backup(appliance)
    assert done.returncode == 2 and "cannot connect to the database" in done.stdout
    assert_alerted(mailbox, "cannot connect to the database")
    assert [p.name for p in appliance.backups.glob("*.dump")] == [os.path.basename(good)]
    assert_only_sealed_dumps(appliance.backups)


def test_the_database_connection_lost_during_the_backup_is_alerted(appliance, mailbox):
    good = backup(appliance)
    with psycopg.connect(appliance.url) as blocker:
        # the backup waits for this lock in the middle of its work ...
        blocker.execute("LOCK TABLE l0_raw IN ACCESS EXCLUSIVE MODE")
        outcome = {}
        worker = threading.Thread(target=lambda: outcome.update(done=watched_backup(appliance)))
        worker.start()
        with psycopg.connect(appliance.url, autocommit=True) as killer:
            for _ in range(400):  # ... until the server drops its connection
                ended = killer.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND wait_event_type = 'Lock'",
                    [appliance.database],
                ).fetchall()
                if ended:
                    break
                time.sleep(0.05)
            assert ended, "the backup never reached the database"
        blocker.rollback()
        worker.join(60)
    done = outcome["done"]
    assert done.returncode == 2, done.stdout
    assert "terminat" in done.stdout  # the server's own words reach the alert
    assert_alerted(mailbox, "terminat")
    assert [p.name for p in appliance.backups.glob("*.dump")] == [os.path.basename(good)]
    assert_only_sealed_dumps(appliance.backups)


@pytest.fixture
def small_disk(tmp_path):
    folder = tmp_path / "small"
    folder.mkdir(mode=0o700)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=192k,mode=700", "tmpfs",
                              str(folder)], capture_output=True, text=True)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_full_disk_during_the_backup_is_alerted(appliance, mailbox, small_disk):
    env = {"COGMEM_BACKUP_DIR": str(small_disk)}
    first = appliance.run("job", "backup", "--", *PYTHON_CLI, "backup", "run", env=env)
    assert first.returncode == 0, first.stdout
    with psycopg.connect(appliance.url, autocommit=True) as conn:  # ~1 MB that will not compress
        conn.execute("INSERT INTO l0_raw (session_id, speaker, content) SELECT 's', 'u', "
                     "string_agg(md5(random()::text), '') FROM generate_series(1, 30), "
                     "generate_series(1, 1000) AS row GROUP BY row")  # fmt: skip
    done = appliance.run("job", "backup", "--", *PYTHON_CLI, "backup", "run", env=env)
    assert done.returncode == 2, done.stdout
    assert "No space left on device" in done.stdout or "could not write" in done.stdout
    assert_alerted(mailbox, "backup")
    assert len(list(small_disk.glob("*.dump"))) == 1
    assert_only_sealed_dumps(small_disk)


def test_a_failed_job_whose_alert_cannot_be_sent_still_fails_and_says_so(appliance, mailbox):
    mailbox.__exit__()  # the mail server is gone
    done = appliance.run("job", "drift-check", "--", "false")
    assert done.returncode == 1
    assert "the alert could not be sent" in done.stderr
    assert job_state(appliance, "drift-check")["ok"] is False


def test_a_stale_backup_is_alerted(appliance, mailbox):
    dump = backup(appliance)
    manifest = json.loads(Path(f"{dump}.json").read_text())
    manifest["created_at"] = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=30)).isoformat()
    Path(f"{dump}.json").write_text(json.dumps(manifest))
    reseal_manifest(dump)  # as if it had been made 30 h ago
    check = [*PYTHON_CLI, "backup", "check", "--max-age-hours", "26"]
    done = appliance.run("job", "backup-check", "--", *check)
    assert done.returncode == 1
    assert "the newest good backup is 30.0 h old" in done.stdout
    mail = mailbox.messages[-1]
    assert mail["Subject"].startswith("Cognitive Memory backup-check failed on ")
    assert "30.0 h old" in Mailbox.body(mail)
    assert job_state(appliance, "backup-check")["ok"] is False
    backup(appliance)  # a new good dump: fresh again
    assert appliance.run("job", "backup-check", "--", *check).returncode == 0


def test_a_test_alert_reaches_the_mailbox_and_says_when_no_channel_is_set(appliance, mailbox):
    sent = appliance.run("alert", "--message", "is anyone there")
    assert sent.returncode == 0, sent.stderr
    assert "alert sent email" in sent.stderr
    assert Mailbox.body(mailbox.messages[-1]).strip().endswith("is anyone there")
    env_file = appliance.config / ".env.development"
    env_file.write_text(env_file.read_text().split("\n", 1)[0] + "\n")  # only DATABASE_URL left
    unsent = appliance.run("alert", "--message", "is anyone there")
    assert unsent.returncode == 1 and "alert sent nowhere" in unsent.stderr

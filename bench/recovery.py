"""Recovery point and recovery time, measured on throwaway hosts with a backup host.

    python bench/recovery.py [--insights N ...]      (root; default: 0 and 100000)

For each size: appliance A and backup host B deployed in one run; N generated insights (SQL,
random 384-dim vectors, HNSW index maintained) and a full pgBackRest backup; a writer inserts one
dialogue turn per second; after 150 s A's container is killed with SIGKILL (a power cut, no clean
shutdown); a fresh host C is deployed from B to the latest archived state (cogmem_restore_from:
latest) and the production checklist runs on it.

- RPO: the kill time minus the newest turn C has (writes lost), against the goal of 5 minutes;
  archive_timeout (60 s) bounds it while anything is written.
- RTO: deploying C (an empty Debian 13 host: packages, app, restore, WAL replay, migrations,
  service) plus the checklist going green. Booting the empty host is reported on its own.

Writes bench/results/recovery.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import signal
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from provisioning import testhost  # noqa: E402
from tests.support import recovery  # noqa: E402

RESULTS = REPO / "bench" / "results" / "recovery.json"
WRITE_SECONDS = 150
RPO_GOAL_S = 300
RTO_GOAL_S = 300

GENERATE = """
INSERT INTO l2_insights (content, embedding, embedding_model)
SELECT 'generated insight ' || g || ' on ' || md5(g::text), v.vec::vector, 'hashing-lexical-v1'
FROM generate_series(1, {n}) AS g,
     LATERAL (SELECT array_agg(random()::real) AS vec FROM generate_series(1, 384) WHERE g > 0) v
"""
# One turn a second, each in its own transaction, stamped by the database clock.
WRITER = (
    "while :; do runuser -u postgres -- psql -XAtq -p {port} -d {db} -c "
    "\"INSERT INTO l0_raw (session_id, speaker, content) VALUES ('rpo', 'user', 'tick')\" "
    ">/dev/null 2>&1; sleep 1; done"
)


def measure(size: int, folder: Path, wheel: Path) -> dict:
    tag = f"8b-rb{size // 1000}k"
    a, b, c = recovery.boot_all(f"{tag}-a", f"{tag}-b", f"{tag}-c")
    row: dict = {"insights": size}
    try:
        app = recovery.appliance(folder, a, b, cogmem_wheel=str(wheel))
        deployed = recovery.deploy(app)
        assert deployed.returncode == 0, (deployed.stdout + deployed.stderr)[-4000:]
        if size:
            started = time.monotonic()
            app.query(GENERATE.format(n=size), timeout=3600)
            row["generate_s"] = round(time.monotonic() - started, 1)
        started = time.monotonic()
        assert app.pgbackrest("--type=full", "backup", timeout=1800).returncode == 0
        row["full_backup_s"] = round(time.monotonic() - started, 1)
        row["database_mb"] = round(
            int(app.query("SELECT pg_database_size(current_database())")) / 2**20, 1
        )
        turn = app.call(
            "store_raw_dialogue", {"session_id": "m", "speaker": "user", "content": "x"}
        )
        marker = app.call(
            "compress_to_l2_insight",
            {"content": "The recovery benchmark marker insight", "source_ids": [turn["id"]]},
        )
        port, db = app.settings["postgresql_port"], app.settings["cogmem_db_name"]
        app.sh(f"setsid sh -c {json.dumps(WRITER.format(port=port, db=db))} >/dev/null 2>&1 &")
        time.sleep(WRITE_SECONDS)
        os.kill(a.container_pid, signal.SIGKILL)  # the power cut
        killed = dt.datetime.now(dt.UTC)
        testhost.teardown(a)

        fresh = recovery.appliance(
            folder, c, b, cogmem_wheel=str(wheel), cogmem_backup_name=a.name,
            cogmem_restore_from="latest",
        )  # fmt: skip
        started = time.monotonic()
        deployed = recovery.deploy(fresh)
        row["deploy_s"] = round(time.monotonic() - started, 1)
        assert deployed.returncode == 0, (deployed.stdout + deployed.stderr)[-4000:]
        started = time.monotonic()
        green = recovery.checklist(fresh, folder / f"{tag}-checklist.xml")
        row["checklist_s"] = round(time.monotonic() - started, 1)
        assert green.returncode == 0, green.stdout[-4000:]
        newest = fresh.query("SELECT max(created_at) FROM l0_raw WHERE session_id = 'rpo'")
        newest_at = dt.datetime.fromisoformat(newest.replace(" ", "T"))
        row["rpo_s"] = round((killed - newest_at).total_seconds(), 1)
        row["rto_s"] = round(row["deploy_s"] + row["checklist_s"], 1)
        row["restored_insights"] = int(fresh.query("SELECT count(*) FROM l2_insights"))
        print(json.dumps(row), flush=True)
        assert row["restored_insights"] >= size + 1
        found = fresh.call("hybrid_search", {"query_text": "recovery benchmark marker", "top_k": 3})
        assert found["results"][0]["id"] == marker["id"], found
    finally:
        recovery.teardown_all([h for h in (a, b, c) if testhost.leftovers(h)])
    return row


def versions() -> dict[str, str]:
    import pyinfra

    return {"python": platform.python_version(), "pyinfra": pyinfra.__version__,
            "pgbackrest": "2.55.1 (Debian 13)", "postgresql": "17 (Debian 13)"}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--insights", type=int, nargs="+", default=[0])
    args = parser.parse_args()
    testhost.check_requirements()
    folder = Path(tempfile.mkdtemp(prefix="cogmem-bench-recovery-"))
    wheel = recovery.build_wheel(folder / "wheel")
    rows = []
    for size in args.insights:
        print(f"measuring recovery with {size} generated insights ...", flush=True)
        result = measure(size, folder, wheel)
        print(json.dumps(result), flush=True)
        rows.append(result)
    columns = [
        "insights", "database_mb", "full_backup_s", "rpo_s", "deploy_s", "checklist_s", "rto_s",
        "rpo_goal_s", "rto_goal_s",
    ]  # fmt: skip
    table = [[r.get(k) for k in columns[:-2]] + [RPO_GOAL_S, RTO_GOAL_S] for r in rows]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    if RESULTS.is_file():  # keep the rows of other sizes measured by another run
        measured = {row[0] for row in table}
        old = json.loads(RESULTS.read_text())
        table = sorted([r for r in old["rows"] if r[0] not in measured] + table)
    RESULTS.write_text(
        json.dumps(
            {
                "title": "Recovery from the backup host: RPO (SIGKILL after 150 s of writes, "
                "one per second) and RTO (fresh host deployed from pgBackRest + checklist green)",
                "machine": f"{platform.node()} ({os.cpu_count()} cores, shared)",
                "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
                "versions": versions(),
                "columns": columns,
                "rows": table,
                "command": "python bench/recovery.py --insights "
                + " ".join(str(row[0]) for row in table),
            },
            indent=2,
        )
        + "\n"
    )
    print(f"written: {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

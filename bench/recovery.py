"""Recovery point and recovery time, measured on throwaway hosts with a backup host.

    python bench/recovery.py [--insights N ...] [--from latest|dump ...]   (root)

For each size and source: appliance A and backup host B deployed in one run; N generated
insights (SQL, random 384-dim vectors, the HNSW index built after the load as pgvector advises)
and a full pgBackRest backup; a writer inserts one dialogue turn per second; after 150 s A's
container is killed with SIGKILL (a power cut, no clean shutdown); a fresh host C is deployed
from B and the production checklist runs on it.

- `latest`: C restores with pgBackRest to the latest archived state (cogmem_restore_from:
  latest). RPO: the kill time minus the newest turn C has (writes lost), against the goal of
  5 minutes; archive_timeout (60 s) bounds it while anything is written.
- `dump`: the nightly dump and its copy to B run on A (the cron lines) before the writes; C
  restores the newest dump there (cogmem_restore_from: dump). Its RPO is the dump schedule's
  (24 h), not measured.
- RTO: deploying C (an empty Debian 13 host: packages, app, restore, migrations, service) plus
  the checklist going green.

Writes bench/results/recovery.json (rows of other sizes and sources measured before are kept).
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

from bench import results_file  # noqa: E402
from provisioning import testhost  # noqa: E402
from tests.support import recovery  # noqa: E402

RESULTS = REPO / "bench" / "results" / "recovery.json"
WRITE_SECONDS = 150
RPO_GOAL_S = 300
RTO_GOAL_S = 300

INDEX = "l2_insights_embedding_384_halfvec_hnsw"
# The app's own index (its definition read from the database, options included) is dropped for
# the bulk load and built again after it.
GENERATE = """
SET maintenance_work_mem = '256MB';
DROP INDEX {index};
INSERT INTO l2_insights (content, embedding, embedding_model)
SELECT 'generated insight ' || g || ' on ' || md5(g::text), v.vec::vector, 'hashing-lexical-v1'
FROM generate_series(1, {n}) AS g,
     LATERAL (SELECT array_agg(random()::real) AS vec FROM generate_series(1, 384) WHERE g > 0) v;
{definition};
"""
# One turn a second, each in its own transaction, stamped by the database clock.
WRITER = (
    "while :; do runuser -u postgres -- psql -XAtq -p {port} -d {db} -c "
    "\"INSERT INTO l0_raw (session_id, speaker, content) VALUES ('rpo', 'user', 'tick')\" "
    ">/dev/null 2>&1; sleep 1; done"
)


def measure(size: int, source: str, folder: Path, wheel: Path, prefix: str, keep: bool) -> dict:
    tag = f"{prefix}rb{size // 1000}k-{source}"
    a, b, c = recovery.boot_all(f"{tag}-a", f"{tag}-b", f"{tag}-c")
    row: dict = {"insights": size, "from": source, "load_start": round(os.getloadavg()[0], 1)}
    failed = True
    try:
        app = recovery.appliance(folder, a, b, cogmem_wheel=str(wheel))
        deployed = recovery.deploy(app)
        assert deployed.returncode == 0, (deployed.stdout + deployed.stderr)[-4000:]
        if size:
            started = time.monotonic()
            definition = app.query(f"SELECT pg_get_indexdef('{INDEX}'::regclass)")
            app.query(GENERATE.format(index=INDEX, n=size, definition=definition), timeout=3600)
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
        if source == "dump":  # tonight's dump and its copy to B, as cron runs them
            for job in ("cognitive-memory-backup", "cognitive-memory-offsite"):
                done = recovery.run_cron_job(app, job, timeout=1800)
                assert done.returncode == 0, recovery.journal(app, job)
        port, db = app.settings["postgresql_port"], app.settings["cogmem_db_name"]
        app.sh(f"setsid sh -c {json.dumps(WRITER.format(port=port, db=db))} >/dev/null 2>&1 &")
        time.sleep(WRITE_SECONDS)
        os.kill(a.container_pid, signal.SIGKILL)  # the power cut
        killed = dt.datetime.now(dt.UTC)
        testhost.teardown(a)

        fresh = recovery.appliance(
            folder, c, b, cogmem_wheel=str(wheel), cogmem_backup_name=a.name,
            cogmem_restore_from=source,
        )  # fmt: skip
        row["load_recovery"] = round(os.getloadavg()[0], 1)
        started = time.monotonic()
        deployed = recovery.deploy(fresh)
        row["deploy_s"] = round(time.monotonic() - started, 1)
        assert deployed.returncode == 0, (deployed.stdout + deployed.stderr)[-4000:]
        started = time.monotonic()
        green = recovery.checklist(fresh, folder / f"{tag}-checklist.xml")
        row["checklist_s"] = round(time.monotonic() - started, 1)
        assert green.returncode == 0, green.stdout[-4000:]
        if source == "latest":
            newest = fresh.query("SELECT max(created_at) FROM l0_raw WHERE session_id = 'rpo'")
            newest_at = dt.datetime.fromisoformat(newest.replace(" ", "T"))
            row["rpo_s"] = round((killed - newest_at).total_seconds(), 1)
        row["rto_s"] = round(row["deploy_s"] + row["checklist_s"], 1)
        row["restored_insights"] = int(fresh.query("SELECT count(*) FROM l2_insights"))
        print(json.dumps(row), flush=True)
        assert row["restored_insights"] >= size + 1
        found = fresh.call("hybrid_search", {"query_text": "recovery benchmark marker", "top_k": 3})
        assert found["results"][0]["id"] == marker["id"], found
        failed = False
    finally:
        if failed and keep:
            print(f"kept for a look: {a.name}, {b.name}, {c.name} (testhost down --name ...)")
        else:
            recovery.teardown_all([h for h in (a, b, c) if testhost.leftovers(h)])
    return row


def versions() -> dict[str, str]:
    import pyinfra

    return {"python": platform.python_version(), "pyinfra": pyinfra.__version__,
            "pgbackrest": "2.55.1 (Debian 13)", "postgresql": "17 (Debian 13)"}  # fmt: skip


COLUMNS = [
    "insights", "from", "database_mb", "full_backup_s", "rpo_s", "deploy_s", "checklist_s",
    "rto_s", "rpo_goal_s", "rto_goal_s", "load_start", "load_recovery",
]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--insights", type=int, nargs="+", default=[0])
    parser.add_argument("--from", dest="sources", nargs="+", default=["latest"],
                        choices=["latest", "dump"], help="what C restores")  # fmt: skip
    parser.add_argument("--prefix", default="bench-", help="prefix of the throwaway host names")
    parser.add_argument("--keep-on-failure", action="store_true", help="leave the hosts up")
    args = parser.parse_args()
    testhost.check_requirements()
    machine = results_file.machine()  # the load when the run started
    folder = Path(tempfile.mkdtemp(prefix="cogmem-bench-recovery-"))
    wheel = recovery.build_wheel(folder / "wheel")
    table = []
    for size in args.insights:
        for source in args.sources:
            print(f"measuring recovery from {source} with {size} generated insights ...")
            r = measure(size, source, folder, wheel, args.prefix, args.keep_on_failure)
            print(json.dumps(r), flush=True)
            r |= {"rpo_goal_s": RPO_GOAL_S, "rto_goal_s": RTO_GOAL_S}
            table.append([r.get(k) for k in COLUMNS])
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    if RESULTS.is_file():  # keep the rows of other sizes and sources measured by another run
        old = json.loads(RESULTS.read_text())
        if old["columns"] == COLUMNS:
            measured = {tuple(row[:2]) for row in table}
            table = sorted([r for r in old["rows"] if tuple(r[:2]) not in measured] + table)
    command = "python bench/recovery.py --insights " + " ".join(
        sorted({str(row[0]) for row in table}, key=int)
    ) + " --from " + " ".join(sorted({row[1] for row in table}))  # fmt: skip
    document = {
        "title": "Recovery from the backup host onto a fresh Debian 13 host: RPO (SIGKILL after "
        "150 s of writes, one per second) and RTO (deployed from pgBackRest `latest` or from the "
        "newest dump, then the checklist green); load: the 1-minute load average at the start "
        "and when the deploy of C began",
        "machine": machine,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "versions": versions(),
        "columns": COLUMNS,
        "rows": table,
        "command": command,
    }
    RESULTS.write_text(json.dumps(document, indent=2) + "\n")
    print(f"written: {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

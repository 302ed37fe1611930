"""`cognitive-memory import` replays an L2 export; the export's history is kept N days."""

from __future__ import annotations

import datetime as dt
import json

import psycopg
import pytest
from dulwich import porcelain
from dulwich.repo import Repo

from mcp_server.db import migrator
from mcp_server.ops.export_retention import prune_history
from mcp_server.ops.importer import read_export
from tests.conftest import scratch_database
from tests.support.ops import make_appliance

pytestmark = pytest.mark.timeout(180)
CURRENT_MODEL = "hashing-lexical-v1"  # the development configuration's embedder


@pytest.fixture
def second_database(cluster_admin_url):
    """An empty migrated database to replay into (the host after a disaster)."""
    with scratch_database(cluster_admin_url) as (name, url):
        with psycopg.connect(url, autocommit=True) as conn:
            migrator.migrate(conn, embedding_dim=384)
        yield name, url


def add_insight(url: str, content: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(
            "INSERT INTO l2_insights (content, embedding, embedding_model, source_ids, metadata) "
            "VALUES (%s, '[1,0,0]', 'an-older-model', '{7,8}', '{\"topic\": \"x\"}') RETURNING id",
            [content],
        ).fetchone()[0]


def insights(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT id, content, source_ids, metadata, created_at, embedding_model, embedding_dim "
            "FROM l2_insights ORDER BY id"
        ).fetchall()


def test_an_export_replays_into_an_empty_database_with_the_current_model(
    tmp_path, migrated_database, second_database
):
    settings, url = migrated_database
    source = make_appliance(tmp_path / "a", settings.database.name, url)
    add_insight(url, "The backup runs at two in the night")
    add_insight(url, "Lisbon is where Ana moved in spring")
    export = tmp_path / "export"
    assert source.run("export-l2", "--to", str(export)).returncode == 0

    name, target_url = second_database
    target = make_appliance(tmp_path / "b", name, target_url)
    done = target.run("import", str(export), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) | {"source": None} == {
        "source": None, "imported": 2, "skipped": 0, "model": CURRENT_MODEL}  # fmt: skip
    before, after = insights(url), insights(target_url)
    assert [row[:5] for row in after] == [row[:5] for row in before]  # ids, text, sources, time
    assert {row[5:] for row in after} == {(CURRENT_MODEL, 384)}  # embedded anew
    with psycopg.connect(target_url) as conn:  # analyzed: the search knows the store at once
        assert conn.execute(
            "SELECT reltuples FROM pg_class WHERE oid = 'l2_insights'::regclass"
        ).fetchone() == (2,)

    found = target.run("call", "hybrid_search", "--json-args",
                       json.dumps({"query_text": "where did Ana move", "top_k": 1}))  # fmt: skip
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["results"][0]["id"] == before[1][0]

    again = target.run("import", str(export), "--json")  # safe to repeat
    assert json.loads(again.stdout)["imported"] == 0 and json.loads(again.stdout)["skipped"] == 2
    newer = add_insight(target_url, "written after the import")
    assert newer > max(row[0] for row in before)  # the id sequence moved past the replayed ids


def store_compressed(app, question: str, answer: str) -> int:
    """A question turn, its answer turn, and an insight distilled from the answer (the tool)."""
    turns = []
    for speaker, text in (("user", question), ("assistant", answer)):
        turn = {"session_id": "s", "speaker": speaker, "content": text}
        done = app.run("call", "store_raw_dialogue", "--json-args", json.dumps(turn))
        assert done.returncode == 0, done.stderr
        turns.append(json.loads(done.stdout)["id"])
    done = app.run("call", "compress_to_l2_insight", "--json-args",
                   json.dumps({"content": answer, "source_ids": turns[1:]}))  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["id"]


def contexts(url: str) -> dict[int, tuple[str, str]]:
    """Each insight's indexed words besides its content: (source words, context)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT id, source_words, context FROM l2_insights").fetchall()
        return {id_: (source_words, context) for id_, source_words, context in rows}


def keyword_hits(app, query: str) -> list[int]:
    found = app.run("call", "hybrid_search", "--json-args",
                    json.dumps({"query_text": query, "top_k": 3}))  # fmt: skip
    assert found.returncode == 0, found.stderr
    return [r["id"] for r in json.loads(found.stdout)["results"] if r["keyword_rank"]]


def test_imported_insights_keep_the_context_that_makes_them_findable(
    tmp_path, migrated_database, second_database
):
    settings, url = migrated_database
    source = make_appliance(tmp_path / "a", settings.database.name, url)
    answer = store_compressed(source, "Which city did Ana move to in spring?", "Yes, Lisbon!")
    store_compressed(source, "What time does the backup run?", "At two in the night.")
    assert "Ana move" in contexts(url)[answer][1]
    export = tmp_path / "export"
    assert source.run("export-l2", "--to", str(export)).returncode == 0

    # A host without the raw turns: the context travels in the export.
    name, target_url = second_database
    target = make_appliance(tmp_path / "b", name, target_url)
    assert target.run("import", str(export)).returncode == 0
    assert contexts(target_url) == contexts(url)
    assert keyword_hits(target, "where did Ana move") == [answer]  # only the context says so

    # An export written before exports carried these words: rebuilt from the raw turns here.
    lines = (export / "l2_insights.jsonl").read_text().splitlines()
    older = tmp_path / "older.jsonl"
    stripped = [
        {k: v for k, v in json.loads(line).items() if k not in ("context", "source_words")}
        for line in lines
    ]
    older.write_text("".join(json.dumps(record) + "\n" for record in stripped))
    before = contexts(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM l2_insights")
    assert source.run("import", str(older)).returncode == 0
    assert contexts(url) == before
    with psycopg.connect(url) as conn:  # and the question turn each answer follows
        question = conn.execute(
            "SELECT l2.question_id, turn.content FROM l2_insights AS l2 "
            "JOIN l0_raw AS turn ON turn.id = l2.question_id WHERE l2.id = %s",
            [answer],
        ).fetchone()
    assert question[1] == "Which city did Ana move to in spring?"


def test_an_older_export_replays_with_at(tmp_path, migrated_database, second_database):
    settings, url = migrated_database
    source = make_appliance(tmp_path / "a", settings.database.name, url)
    add_insight(url, "first")
    export = tmp_path / "export"
    first = json.loads(source.run("export-l2", "--to", str(export), "--json").stdout)["commit"]
    add_insight(url, "second")
    assert source.run("export-l2", "--to", str(export)).returncode == 0
    name, target_url = second_database
    target = make_appliance(tmp_path / "b", name, target_url)
    done = target.run("import", str(export), "--at", first[:10])
    assert done.returncode == 0, done.stderr
    assert [row[1] for row in insights(target_url)] == ["first"]
    today = dt.date.today().isoformat()  # the newest export made on or before today: both
    assert json.loads(target.run("import", str(export), "--at", today, "--json").stdout)[
        "imported"] == 1  # fmt: skip


def test_a_broken_export_is_refused_with_its_line(tmp_path, migrated_database):
    settings, url = migrated_database
    app = make_appliance(tmp_path, settings.database.name, url)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"id": 1, "content": "fine"}\n{not json\n')
    done = app.run("import", str(broken))
    assert done.returncode == 2 and "line 2: not JSON" in done.stderr
    assert insights(url) == []


def test_export_history_past_the_retention_is_folded_and_the_cutoff_state_kept(tmp_path):
    repo = porcelain.init(str(tmp_path))
    now = dt.datetime.now(dt.UTC)
    made, trees = [], []
    for version, days in enumerate([45, 40, 31, 12, 0]):
        (tmp_path / "l2_insights.jsonl").write_text(f'{{"id": {version + 1}, "content": "v"}}\n')
        porcelain.add(repo, [str(tmp_path / "l2_insights.jsonl")])
        stamp = int((now - dt.timedelta(days=days)).timestamp())
        made.append(porcelain.commit(repo, message=f"export {version}".encode(),
                                     author=b"t <t@t>", committer=b"t <t@t>",
                                     commit_timestamp=stamp, author_timestamp=stamp))  # fmt: skip
        trees.append(repo[made[-1]].tree)
    assert prune_history(repo, 30, now) == 2
    repo = Repo(str(tmp_path))
    chain, sha = [], repo.head()
    while sha:
        chain.append(repo[sha])
        sha = repo[sha].parents[0] if repo[sha].parents else None
    assert [c.message.decode().split("\n")[0] for c in chain] == [
        "export 4", "export 3", "export 2"]  # fmt: skip
    assert [c.tree for c in chain] == list(reversed(trees[2:]))  # same content, new parents
    assert made[0] not in repo.object_store and made[1] not in repo.object_store
    root = chain[-1].id.decode()
    assert read_export(tmp_path, root) == [{"id": 3, "content": "v"}]  # as of the cutoff
    assert prune_history(repo, 30, now) == 0  # nothing more to fold
    repo.close()

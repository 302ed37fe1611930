"""The L2 export writes JSON Lines and commits to git only when something changed."""

from __future__ import annotations

import json

import psycopg
from dulwich.repo import Repo

from mcp_server.ops.export import FILE_NAME, export_l2


def add_insight(conn, content: str) -> None:
    conn.execute(
        "INSERT INTO l2_insights (content, embedding, embedding_model, source_ids) "
        "VALUES (%s, '[1,0,0]', 'test-model', '{1,2}')",
        [content],
    )


def test_export_commits_changes_and_skips_unchanged_runs(migrated_database, tmp_path):
    _, url = migrated_database
    target = tmp_path / "l2-export"
    with psycopg.connect(url, autocommit=True) as conn:
        add_insight(conn, "Tea helps Ana focus — «ünïcode» too")
        first = export_l2(conn, target, "cognitive_memory_dev")
        second = export_l2(conn, target, "cognitive_memory_dev")
        add_insight(conn, "Ana moved to Lisbon")
        third = export_l2(conn, target, "cognitive_memory_dev")

    assert first.rows == 1 and first.commit
    assert second.commit is None
    assert third.rows == 2 and third.commit
    lines = [json.loads(x) for x in (target / FILE_NAME).read_text().splitlines()]
    assert [x["content"] for x in lines] == ["Tea helps Ana focus — «ünïcode» too",
                                             "Ana moved to Lisbon"]  # fmt: skip
    assert lines[0]["source_ids"] == [1, 2]
    assert "embedding" not in lines[0]
    repo = Repo(str(target))
    head = repo[repo.head()]
    assert head.message.decode().startswith("L2 export of cognitive_memory_dev")
    assert len(head.parents) == 1  # two commits in all

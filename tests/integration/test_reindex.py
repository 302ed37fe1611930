"""`cognitive-memory reindex`: insights stored before migration 005 get the words that later
ones are found by (their turns' dates, the turns around them), on the real database.

The database is made as an upgraded user has it: migrated to 004, written the way that
release wrote (context = the turn before plus the unquoted sources, with speakers), then
migrated to the current schema.
"""

from __future__ import annotations

import json

import anyio
import psycopg
import pytest
from typer.testing import CliRunner

from mcp_server.cli import app
from mcp_server.db import migrator
from mcp_server.memory import index_words
from mcp_server.ops import reindex
from mcp_server.providers.hashing import HashingEmbedder
from tests.conftest import settings_for
from tests.support.evaluation import point_cli_at
from tests.support.mcp import call, connect

# 14 May 2022 was a Saturday.
SAID = "2022-05-14 17:31+00"
TURNS = [
    ("Joanna", "Did you get a pet in the end?"),
    ("Nate", "We adopted a puppy called Max!"),
    ("Joanna", "Congrats, what a cute dog!"),
    ("Nate", "He chews every shoe we own."),
]


@pytest.fixture
def upgraded(fresh_database):
    """(settings, url, {name: insight id}) of a store written before 005, now migrated."""
    name, url = fresh_database
    settings = settings_for(name, url)
    embed = HashingEmbedder(dimension=settings.embedding.dimension).embed_sync
    with psycopg.connect(url, autocommit=True) as db:
        before_005 = [m for m in migrator.discover() if m.version <= 4]
        migrator.migrate(db, before_005, embedding_dim=settings.embedding.dimension)
        turns = [
            db.execute(
                "INSERT INTO l0_raw (session_id, speaker, content, created_at) "
                "VALUES ('pets', %s, %s, %s::timestamptz + %s * interval '1 minute') "
                "RETURNING id", [speaker, text, SAID, n],
            ).fetchone()[0]
            for n, (speaker, text) in enumerate(TURNS)
        ]  # fmt: skip

        def insight(content: str, sources: list[int], context: str) -> int:
            return db.execute(
                "INSERT INTO l2_insights (content, embedding, embedding_model, source_ids, "
                "context, text_search_config) VALUES (%s, %s::real[]::vector, 'hashing', %s, "
                "%s, 'english') RETURNING id",
                [content, embed([content])[0], sources, context],
            ).fetchone()[0]

        ids = {
            # a raw turn as its own insight; 004's context: the turn before it
            "turn": insight("Nate: We adopted a puppy called Max!", [turns[1]],
                            "Joanna: Did you get a pet in the end?"),
            # a client's distilled insight; 004's context: the turn before, the unquoted source
            "distilled": insight("Nate's dog ruins footwear", [turns[3]],
                                 "Joanna: Congrats, what a cute dog!\n"
                                 "Nate: He chews every shoe we own."),
            # imported from an export without its raw turns
            "imported": insight("Melanie paints sunsets", [424242],
                                "Melanie: I painted a lake sunset last summer"),
        }  # fmt: skip
        migrator.migrate(db, embedding_dim=settings.embedding.dimension)
    return settings, url, ids


def stored(url: str) -> dict[int, tuple]:
    """id -> (source_words, context, xmin): xmin changes whenever a row is written."""
    with psycopg.connect(url) as db:
        rows = db.execute("SELECT id, source_words, context, xmin::text FROM l2_insights")
        return {id_: tuple(rest) for id_, *rest in rows}


def cli(*args) -> str:
    result = CliRunner().invoke(app, ["reindex", *args])
    assert result.exit_code == 0, result.output
    return result.output


def keyword_ranks(settings, url: str, query: str) -> dict[int, int]:
    async def search():
        async with connect(settings, url) as client:
            result = await call(client, "hybrid_search", query_text=query, top_k=10)
        return {hit["id"]: hit["keyword_rank"] for hit in result["results"] if hit["keyword_rank"]}

    return anyio.run(search)


def test_old_insights_are_found_by_their_date_and_neighbours_after_reindex(
    upgraded, config_dir, monkeypatch
):
    settings, url, ids = upgraded
    point_cli_at((settings, url), config_dir, monkeypatch)
    imported_before = stored(url)[ids["imported"]]
    assert keyword_ranks(settings, url, "May 2022") == {}

    assert json.loads(cli("--json")) == {"examined": 2, "changed": 2, "without_turns": 1}

    after = stored(url)
    assert after[ids["turn"]][:2] == (
        "14 May 2022 Saturday",
        # two turns either side, without speakers (index_words)
        "Did you get a pet in the end?\nCongrats, what a cute dog!\nHe chews every shoe we own.",
    )
    assert after[ids["distilled"]][:2] == (
        "Nate: He chews every shoe we own.\n14 May 2022 Saturday",
        "We adopted a puppy called Max!\nCongrats, what a cute dog!",
    )
    assert after[ids["imported"]] == imported_before  # no turns here to rebuild from
    assert set(keyword_ranks(settings, url, "May 2022")) == {ids["turn"], ids["distilled"]}
    assert set(keyword_ranks(settings, url, "saturday")) == {ids["turn"], ids["distilled"]}
    # "shoe" was two turns after the puppy: only the wider context reaches it.
    assert ids["turn"] in keyword_ranks(settings, url, "shoe")


def test_a_second_run_writes_nothing(upgraded, config_dir, monkeypatch):
    settings, url, _ = upgraded
    point_cli_at((settings, url), config_dir, monkeypatch)
    cli("--json")
    first = stored(url)
    shown = cli().splitlines()
    assert shown[-1] == "0 of 0 insights got new index words; 1 without raw turns here kept theirs"
    assert json.loads(cli("--all", "--json")) == {"examined": 2, "changed": 0, "without_turns": 1}
    assert stored(url) == first  # same words, and no row version written


def test_what_compression_stores_now_is_already_current(upgraded, config_dir, monkeypatch):
    """Insights stored through the tools since 005 are not rewritten, with --all neither."""
    settings, url, _ = upgraded
    point_cli_at((settings, url), config_dir, monkeypatch)
    cli()

    async def store():
        async with connect(settings, url) as client:
            turn = await call(client, "store_raw_dialogue", session_id="new", speaker="u",
                              content="I started learning the cello")  # fmt: skip
            await call(client, "compress_to_l2_insight", content="u learns the cello",
                       source_ids=[turn["id"]])  # fmt: skip

    anyio.run(store)
    assert json.loads(cli("--all", "--json"))["changed"] == 0


def vector_index(url: str) -> tuple | None:
    """(oid, valid) of the 384-dimension HNSW index of l2_insights, None when absent."""
    with psycopg.connect(url) as db:
        return db.execute(
            "SELECT c.oid, i.indisvalid FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid "
            "WHERE c.relname = 'l2_insights_embedding_384_halfvec_hnsw'"
        ).fetchone()


def test_a_small_reindex_keeps_the_vector_index(upgraded, config_dir, monkeypatch):
    settings, url, _ = upgraded
    point_cli_at((settings, url), config_dir, monkeypatch)
    index = vector_index(url)
    cli()
    assert vector_index(url) == index  # the same index, never dropped


def test_an_interrupted_batch_leaves_its_rows_as_they_were(upgraded, monkeypatch):
    """A large upgrade drops the vector index first; an interrupted one leaves it for the
    next run, which builds it again."""
    _, url, _ = upgraded
    monkeypatch.setattr(reindex, "REBUILD_FROM", 2)
    before = stored(url)
    index = vector_index(url)
    real = index_words.words_of
    calls = 0

    async def fails_on_the_second_row(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == 2:
            raise KeyboardInterrupt
        return await real(*args, **kwargs)

    async def run(batch_size: int) -> reindex.Reindexed:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            return await reindex.reindex(
                conn, context_turns=2, dimension=384, batch_size=batch_size, everything=False
            )

    monkeypatch.setattr(index_words, "words_of", fails_on_the_second_row)
    with pytest.raises(KeyboardInterrupt):
        anyio.run(run, 10)
    assert stored(url) == before  # the first row's update went with its batch
    assert vector_index(url) is None
    monkeypatch.setattr(index_words, "words_of", real)
    assert anyio.run(run, 1) == reindex.Reindexed(examined=2, changed=2, without_turns=1)
    rebuilt = vector_index(url)
    assert rebuilt[1] and rebuilt != index

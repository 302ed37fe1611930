"""After the fusion: hide what is not relevant, and find what full-text search cannot see.

The vector branch always returns its nearest neighbours, related or not, so an unrelated
query used to come back with a full page of filler. The floor keeps a hit only when it
shares a word with the query (a keyword match) or is similar enough in meaning (cosine
>= min_similarity; search.min_similarity, 0.2 by default: unrelated sentences score about
-0.1..0.17 with all-MiniLM-L6-v2 and the hashing embedder, related ones 0.27 and more).

PostgreSQL's text-search parser drops emoji and symbols, and keeps a run of CJK text as one
word, so "🐱" or a single "東" never matched by keyword, and an embedder may not place them
either. Such needles are looked up literally (strpos, a scan of the insights: only for
queries that hold them) and join the results as keyword matches.
"""

from __future__ import annotations

import dataclasses
import unicodedata

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from mcp_server.memory.l2 import SearchHit

MAX_NEEDLES = 5


def above_floor(hits: list[SearchHit], min_similarity: float) -> list[SearchHit]:
    return [
        hit
        for hit in hits
        if hit.keyword_rank is not None
        or (hit.semantic_score is not None and hit.semantic_score >= min_similarity)
    ]


def _unsearchable(char: str) -> bool:
    """A symbol (emoji included) or a wide East Asian character."""
    category = unicodedata.category(char)
    return category.startswith("S") or (
        category.startswith("L") and unicodedata.east_asian_width(char) in ("W", "F")
    )


def needles(query_text: str) -> list[str]:
    """The runs of characters full-text search cannot match on their own."""
    runs, current = [], ""
    for char in query_text:
        if _unsearchable(char) or (current and unicodedata.category(char) in ("Mn", "Cf")):
            current += char  # joiners and variation selectors belong to their emoji
        elif current:
            runs.append(current)
            current = ""
    if current:
        runs.append(current)
    return list(dict.fromkeys(runs))[:MAX_NEEDLES]


async def literal_hits(
    conn: AsyncConnection,
    query_text: str,
    *,
    limit: int,
    keyword_weight: float,
    rrf_k: int,
    fusion: str = "score",
) -> list[SearchHit]:
    """Insights holding one of the query's needles, newest first, scored as the best keyword
    match would be: the full keyword weight (score fusion) or the keyword rank's RRF term."""
    found = needles(query_text)
    if not found or keyword_weight <= 0:
        return []
    cursor = conn.cursor(row_factory=dict_row)
    await cursor.execute(
        """
        SELECT id, content, created_at, source_ids FROM l2_insights
        WHERE EXISTS (SELECT 1 FROM unnest(%(needles)s::text[]) AS n WHERE strpos(content, n) > 0)
        ORDER BY created_at DESC, id DESC LIMIT %(limit)s""",
        {"needles": found, "limit": limit},
    )
    names = [field.name for field in dataclasses.fields(SearchHit)]
    hits = []
    for rank, row in enumerate(await cursor.fetchall(), start=1):
        score = keyword_weight / (rrf_k + rank) if fusion == "rrf" else keyword_weight
        values = row | {"score": score, "keyword_rank": rank}
        hits.append(SearchHit(**{name: values.get(name) for name in names}))
    return hits


def merge(hits: list[SearchHit], extra: list[SearchHit], top_k: int) -> list[SearchHit]:
    """Each extra hit goes before the first hit it outscores (ties by id), so a page in score
    order stays in it and a diversified page (memory/diversity.py) keeps its own order."""
    page = list(hits)
    known = {hit.id for hit in hits}
    for hit in extra:
        if hit.id in known:
            continue
        known.add(hit.id)
        key = (-hit.score, hit.id)
        at = next((i for i, other in enumerate(page) if (-other.score, other.id) > key), len(page))
        page.insert(at, hit)
    return page[:top_k]

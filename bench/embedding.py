"""The local embedder on its own: one query at a time, and a batch of turns, per engine.

Engines, measured in alternating rounds in one process (same load for all):
- sentence-transformers on torch (the baseline; what the server ran before ONNX Runtime);
- ONNX Runtime as the server runs it (8-bit weights, one intra-op thread, no spinning);
- ONNX Runtime with full-precision weights (the export before the 8-bit weights);
- ONNX Runtime with one thread per core, for the idle-machine case.
The queries are LoCoMo questions (short), the batch is 64 LoCoMo turns. How far each engine's
vectors are from the baseline's is printed (largest difference, least cosine): speed that
changes recall does not count, so bench/locomo.py measures the shipped engine's recall.

    python bench/embedding.py [--conversation conv-26] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from bench import results_file
from bench.hybrid_search import percentiles
from bench.locomo import DEFAULT_DATA, read_conversation


def engines(cache: Path) -> dict:
    from sentence_transformers import SentenceTransformer

    from mcp_server.providers import onnx_encoder
    from mcp_server.providers.local import resolve_model_path

    folder = resolve_model_path("all-MiniLM-L6-v2")
    torch_model = SentenceTransformer(str(folder), device="cpu")
    shipped = onnx_encoder.OnnxEncoder.load(folder, cache)
    full = onnx_encoder.OnnxEncoder.load(folder, cache, quantized=False)
    per_core = onnx_encoder.OnnxEncoder.load(folder, cache, threads=os.cpu_count() or 1)
    return {
        "sentence-transformers (torch)": lambda texts: torch_model.encode(
            texts, normalize_embeddings=True
        ),
        "ONNX Runtime, 8-bit weights, 1 thread (shipped)": shipped.encode,
        "ONNX Runtime, full precision, 1 thread": full.encode,
        f"ONNX Runtime, 8-bit weights, {os.cpu_count()} threads": per_core.encode,
    }


def measure(engine, queries: list[str], batch: list[str]) -> tuple[list[float], float]:
    times = []
    for query in queries:
        start = time.perf_counter()
        engine([query])
        times.append((time.perf_counter() - start) * 1000)
    start = time.perf_counter()
    engine(batch)
    return times, (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=Path(os.environ.get("LOCOMO_DIR", DEFAULT_DATA))
    )
    parser.add_argument("--conversation", default="conv-26")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    conversation = read_conversation(args.data / f"{args.conversation}.json")
    queries = [question.text for question in conversation.questions][:150]
    batch = [turn.content for turn in conversation.turns][:64]
    with tempfile.TemporaryDirectory() as cache:
        by_name = engines(Path(cache))
        baseline = next(iter(by_name.values()))(queries[:20] + batch[:20])
        vectors = {name: engine(queries[:20] + batch[:20]) for name, engine in by_name.items()}
        drift = {name: float(np.abs(v - baseline).max()) for name, v in vectors.items()}
        closeness = {name: float(np.sum(v * baseline, axis=1).min()) for name, v in vectors.items()}
        for engine in by_name.values():  # warm-up: first calls allocate
            measure(engine, queries[:10], batch[:8])
        single = {name: [] for name in by_name}
        batches = {name: [] for name in by_name}
        for _ in range(args.rounds):
            for name, engine in by_name.items():
                times, batch_ms = measure(engine, queries, batch)
                single[name] += times
                batches[name].append(batch_ms)
    base_name = next(iter(by_name))
    base_p50 = percentiles(single[base_name])["p50_ms"]
    base_batch = statistics.median(batches[base_name])
    rows = []
    for name in by_name:
        figures = percentiles(single[name])
        batch_ms = statistics.median(batches[name])
        rows.append(
            [
                name,
                round(figures["p50_ms"], 2),
                round(figures["p99_ms"], 2),
                round(figures["p50_ms"] / base_p50, 2),
                round(batch_ms, 1),
                round(batch_ms / base_batch, 2),
                f"{drift[name]:.1e}",
                round(closeness[name], 5),
            ]
        )
    columns = [
        "engine",
        "query p50 ms",
        "query p99 ms",
        "p50 / torch",
        "64 turns ms",
        "batch / torch",
        "max |Δ| vs torch",
        "min cosine vs torch",
    ]
    title = (
        f"Local MiniLM embedding, one LoCoMo question at a time ({len(queries)} x "
        f"{args.rounds} rounds, alternating) and 64 turns at once"
    )
    results_file.show(title, columns, rows)
    path = results_file.write(
        "embedding",
        title=title,
        columns=columns,
        rows=rows,
        versions=results_file.versions("onnxruntime", "torch", "sentence-transformers"),
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

"""A sentence-transformers model folder run by ONNX Runtime: nearly the same vectors, in less time.

A LoCoMo question costs 1.5 ms here (8-bit weights; 3.4 ms at full precision) against 6.7 ms
through sentence-transformers on torch, and 64 turns 0.44x torch's time (bench/embedding.py,
2 idle cores): ONNX Runtime skips torch's per-call dispatch, reads a quarter of the weight
bytes, and this module pads each batch only to its longest text. The folder's transformer is
exported to ONNX once, with torch, into a cache keyed by the weights; each export is checked
against torch on sample texts before it is kept (within 1e-4 at full precision, cosine 0.999
with 8-bit weights). Folders of another shape (extra dense layers, no tokenizer.json) are left
to sentence-transformers: `OnnxEncoder.load` returns None for them."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import json
import logging
import os
import re
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

# Bump when the exported graph changes, so old cache files are not reused.
EXPORT_FORMAT = 2
# Encoded together, sorted by length so that a batch pads little (as sentence-transformers does).
BATCH_SIZE = 16
_SUPPORTED_MODULES = {
    "sentence_transformers.models.Transformer",
    "sentence_transformers.models.Pooling",
    "sentence_transformers.models.Normalize",
}
_POOLINGS = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls"}
# Texts of different lengths, one past 128 tokens, for the check of a fresh export.
_CHECK_TEXTS = [
    "hello",
    "When did the support group meet, and who came along with her?",
    " ".join(["a long turn about gardening, travel plans and a new job"] * 20),
]
_CHECK_TOLERANCE = 1e-4
# The matrix products' weights as 8-bit integers in blocks of 16, each block with its own
# scale (ONNX Runtime's MatMulNBits, computed in int8). A query's pass is bound by reading the
# weights (10.6 M of them), so a quarter of the bytes is about half the time; the vectors stay
# within cosine 0.9995 of the full-precision ones, where quantizing the activations too
# (quantize_dynamic) moved them to 0.97 and cost recall. A quantized graph is kept only if
# every check text's vector is at least this close to torch's; else the full-precision one.
WEIGHT_BITS = 8
WEIGHT_BLOCK = 16
_QUANTIZED_MIN_COSINE = 0.999
# Exports of the same model older than this are removed when a new one is made.
STALE_DAYS = 30
INTRA_OP_THREADS = 1


class OnnxEncoder:
    """Tokenizes with the folder's tokenizer.json, runs the ONNX graph, pools, normalises."""

    def __init__(self, session, tokenizer, pooling: str) -> None:
        self._session = session
        self._tokenizer = tokenizer
        self._pooling = pooling
        self._inputs = {i.name for i in session.get_inputs()}
        self.dimension = int(session.get_outputs()[0].shape[-1])

    @classmethod
    def load(
        cls,
        model_dir: Path,
        cache_dir: Path,
        threads: int = INTRA_OP_THREADS,
        quantized: bool = True,
    ) -> OnnxEncoder | None:
        """The encoder for `model_dir`, exporting it on first use; None if it has another shape.
        `quantized=False` keeps full-precision weights (bench/embedding.py compares both)."""
        shape = _shape_of(model_dir)
        if shape is None:
            return None
        pooling, max_tokens = shape
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        # tokenizer.json may pad every text to a fixed length; the attention mask makes padding
        # harmless but not free, so batches pad only to their longest text.
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_tokens)
        onnx_file = cache_dir / f"{model_dir.name}-{_weights_key(model_dir, quantized)}.onnx"
        if not onnx_file.exists():
            _export(model_dir, onnx_file, tokenizer, pooling, quantized)
            _prune(onnx_file)
        return cls(_session(onnx_file, threads), tokenizer, pooling)

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit vectors, one row per text, in the order given."""
        encodings = self._tokenizer.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        chunks = [order[start : start + BATCH_SIZE] for start in range(0, len(order), BATCH_SIZE)]
        batches = [[encodings[i] for i in chunk] for chunk in chunks]
        # A query is one batch on one thread; a long list runs a batch per core side by side
        # (ONNX Runtime releases the GIL), as fast as intra-op threads without their wait.
        done = (
            map(self._encode_batch, batches)
            if len(batches) == 1
            else _workers().map(self._encode_batch, batches)
        )
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        for chunk, batch_vectors in zip(chunks, done, strict=True):
            vectors[chunk] = batch_vectors
        return vectors

    def _encode_batch(self, encodings) -> np.ndarray:
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        (hidden,) = self._session.run(None, {k: v for k, v in feed.items() if k in self._inputs})
        return _normalised(_pool(hidden, mask, self._pooling))


@functools.cache
def _workers() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="onnx")


def _shape_of(model_dir: Path) -> tuple[str, int] | None:
    """(pooling, max tokens) for a transformer + pooling (+ normalise) folder, else None."""
    try:
        modules = json.loads((model_dir / "modules.json").read_text())
        pooling_dir = next(m["path"] for m in modules if m["type"].endswith(".Pooling"))
        pooling_config = json.loads((model_dir / pooling_dir / "config.json").read_text())
        bert_config = json.loads((model_dir / "sentence_bert_config.json").read_text())
    except (OSError, ValueError, KeyError, StopIteration):
        return None
    if {m["type"] for m in modules} - _SUPPORTED_MODULES:
        return None
    if not (model_dir / "tokenizer.json").is_file():
        return None
    modes = [name for name, on in pooling_config.items() if name.startswith("pooling_mode") and on]
    if len(modes) != 1 or modes[0] not in _POOLINGS:
        return None
    return _POOLINGS[modes[0]], int(bert_config.get("max_seq_length", 512))


def _weights_key(model_dir: Path, quantized: bool) -> str:
    """Changes when the weights or the way they are exported do; cheap enough for every start
    (no 90 MB hash)."""
    weights = f"int{WEIGHT_BITS}/{WEIGHT_BLOCK}" if quantized else "float32"
    parts = [f"{EXPORT_FORMAT}:{weights}", str(model_dir.resolve())]
    for path in sorted(model_dir.iterdir()):
        if path.is_file():
            stat = path.stat()
            parts.append(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _export(model_dir: Path, target: Path, tokenizer, pooling: str, quantized: bool) -> None:
    """Export with torch, check against torch, then move into place (atomic: no half files)."""
    import torch
    from transformers import AutoModel

    log.info("exporting the embedding model to ONNX once: %s", target)
    # Eager attention traces to plain matrix products; the fused kernels do not export cleanly.
    model = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()
    names = ["input_ids", "attention_mask"]
    if "token_type_ids" in inspect.signature(model.forward).parameters:
        names.append("token_type_ids")

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model  # a submodule: its weights export as weights, not constants

        def forward(self, *inputs):
            return self.model(**dict(zip(names, inputs, strict=True))).last_hidden_state

    # Before the export: after tracing, the torch model computed other vectors (transformers 5).
    expected = _torch_vectors(model, tokenizer, pooling)
    sample = tuple(torch.ones((1, 8), dtype=torch.long) for _ in names[:2]) + tuple(
        torch.zeros((1, 8), dtype=torch.long) for _ in names[2:]
    )
    axes = {name: {0: "batch", 1: "tokens"} for name in [*names, "last_hidden_state"]}
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        draft = Path(scratch) / target.name
        # The tracer warns about branches in general; _CHECK_TEXTS below prove this graph.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                LastHiddenState(),
                sample,
                str(draft),
                input_names=names,
                output_names=["last_hidden_state"],
                dynamic_axes=axes,
                opset_version=17,
                dynamo=False,
            )
        # Tracing can bake a branch into the graph: refuse an export that computes otherwise.
        exported = OnnxEncoder(_session(draft), tokenizer, pooling).encode(_CHECK_TEXTS)
        if float(np.abs(exported - expected).max()) > _CHECK_TOLERANCE:
            raise RuntimeError("the ONNX export does not reproduce the model's vectors")
        if quantized:
            draft = _quantized(draft, tokenizer, pooling, expected) or draft
        os.replace(draft, target)


def _prune(kept: Path) -> None:
    """Remove this model's other exports written more than STALE_DAYS ago: each upgrade of
    the package (new file times) or of EXPORT_FORMAT makes a new 60-90 MB file. An environment
    that still used a removed one exports it again at its next start."""
    cutoff = time.time() - STALE_DAYS * 86400
    same_model = re.compile(re.escape(kept.name.rsplit("-", 1)[0]) + r"-[0-9a-f]{16}\.onnx")
    for other in kept.parent.iterdir():
        if other != kept and same_model.fullmatch(other.name) and other.stat().st_mtime < cutoff:
            other.unlink(missing_ok=True)
            log.info("removed an embedding model export older than %s days: %s", STALE_DAYS, other)


def _quantized(draft: Path, tokenizer, pooling: str, expected: np.ndarray) -> Path | None:
    """The graph with 8-bit weights beside `draft`, or None (and why) if it strays from torch."""
    quantized = draft.with_suffix(".int8.onnx")
    try:
        with _contained_logging():
            from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

            quantizer = MatMulNBitsQuantizer(
                str(draft),
                bits=WEIGHT_BITS,
                block_size=WEIGHT_BLOCK,
                is_symmetric=True,
                accuracy_level=4,  # int8 products: float32 ones unpack every block on every call
            )
            quantizer.process()
        quantizer.model.save_model_to_file(str(quantized), use_external_data_format=False)
    except Exception as error:  # a missing or failing quantizer leaves full precision
        log.warning("the embedding model stays at full precision: %s", reason(error))
        return None
    vectors = OnnxEncoder(_session(quantized), tokenizer, pooling).encode(_CHECK_TEXTS)
    closeness = float(np.min(np.sum(vectors * expected, axis=1)))
    if closeness < _QUANTIZED_MIN_COSINE:
        log.warning(
            "the embedding model stays at full precision: its 8-bit weights moved a vector "
            "to cosine %.4f of torch's (at least %s is kept)",
            closeness,
            _QUANTIZED_MIN_COSINE,
        )
        return None
    return quantized


@contextlib.contextmanager
def _contained_logging():
    """The quantizer's module calls logging.basicConfig at import (a root handler at INFO, which
    would print every library's log lines unmasked) and logs a line per matrix product: both
    are undone here, its warnings kept."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    quantizer_log = logging.getLogger("onnxruntime.quantization")
    quantizer_level = quantizer_log.level
    quantizer_log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for handler in set(root.handlers) - set(handlers):
            root.removeHandler(handler)
        root.setLevel(level)
        quantizer_log.setLevel(quantizer_level)


def reason(error: Exception) -> str:
    """An error's type and first line, for a log line that says why."""
    return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"


def _torch_vectors(model, tokenizer, pooling: str) -> np.ndarray:
    """The check texts' vectors from torch, one text at a time (no padding involved)."""
    import torch

    rows = []
    for text in _CHECK_TEXTS:
        ids = torch.tensor([tokenizer.encode(text).ids])
        with torch.inference_mode():
            hidden = model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
        rows.append(_pool(hidden.numpy(), np.ones(tuple(ids.shape), dtype=np.int64), pooling)[0])
    return _normalised(np.stack(rows))


def _session(onnx_file: Path, threads: int = INTRA_OP_THREADS):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    # One thread per run, and no spinning between runs: concurrent searches run side by side
    # instead of fighting PostgreSQL for the cores. On 2 busy cores (load 3) a query's p99
    # fell from 29 to 4.6 ms; on idle cores two threads would save ~1 ms (bench/embedding.py).
    # Long lists still use every core: encode() runs their batches in parallel.
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])


def _pool(hidden: np.ndarray, mask: np.ndarray, pooling: str) -> np.ndarray:
    if pooling == "cls":
        return hidden[:, 0]
    weights = mask[..., None].astype(np.float32)
    return (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)


def _normalised(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

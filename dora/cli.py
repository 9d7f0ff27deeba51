"""The ``dora`` command: one typer app; each group is a thin shell over the packages."""

from __future__ import annotations

import json
import logging
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from dora.cli_bench_mem0 import bench_mem0
from dora.cli_chat import chat
from dora.cli_checkins import checkins_app
from dora.cli_dialogue import eval_dialogue
from dora.cli_models import models_app
from dora.cli_personas import personas_app
from dora.cli_train import train_app
from dora.cli_users import users_app
from dora.config import Settings, load_settings
from dora.wiring.memory import build_embeddings, build_memory

app = typer.Typer(
    help="DORA: a Telegram companion with long-term memory.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
eval_app = typer.Typer(help="Measure memory retrieval on probe sets.", no_args_is_help=True)
bench_app = typer.Typer(help="Speed benchmarks that print figures.", no_args_is_help=True)
keys_app = typer.Typer(help="Encryption keys.", no_args_is_help=True)
memory_app = typer.Typer(help="Look into one user's memory.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data for notebooks, screenshots and tests.", no_args_is_help=True)
app.command("chat")(chat)


@app.command("bot")
def bot_command(
    data_dir: Annotated[Path | None, typer.Option(help="Data folder (DORA_DATA_DIR).")] = None,
    workers: Annotated[
        int, typer.Option(help="Webhook worker processes sharing the port (needs Redis, PostgreSQL, Chroma).")
    ] = 1,
    worker_index: Annotated[int, typer.Option(hidden=True)] = 0,
) -> None:
    """Run the Telegram bot: long polling, or a webhook when DORA_TELEGRAM_WEBHOOK_URL is set."""
    import asyncio

    from dora.wiring.bot import run

    settings = _settings(data_dir)
    if workers > 1:
        from dora.workers import check_can_share, supervise, worker_command

        check_can_share(settings)
        extra = ["--data-dir", str(data_dir)] if data_dir else []
        sys.exit(supervise(workers, lambda i: worker_command(i, extra)))
    asyncio.run(run(settings, worker_index=worker_index))


app.add_typer(models_app, name="models")
app.add_typer(personas_app, name="personas")
app.add_typer(users_app, name="users")
app.add_typer(eval_app, name="eval")
app.add_typer(bench_app, name="bench")
app.add_typer(keys_app, name="keys")
app.add_typer(memory_app, name="memory")
app.add_typer(demo_app, name="demo")
app.add_typer(checkins_app, name="checkins")
app.add_typer(train_app, name="train")

console = Console(stderr=True)
out = Console()

DEFAULT_LOCOMO = Path("../shared/locomo10.json")


def _fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(1)


@contextmanager
def _needs_checkout(command: str) -> Iterator[None]:
    """Around the imports of ``bench`` and ``testkit``: they are not in the wheel (the product only),
    so where they are missing this is an installed copy, not a checkout; one line says so, not a
    traceback. A module missing inside them is a real bug and is raised as it is."""
    try:
        yield
    except ModuleNotFoundError as exc:
        if exc.name not in ("bench", "testkit"):
            raise
        console.print(
            f"[bold red]error:[/] {command} needs a source checkout: "
            "run it from a clone set up with `make setup`",
            soft_wrap=True,  # one line, however narrow the terminal
        )
        raise typer.Exit(2) from None


def _settings(data_dir: Path | None = None) -> Settings:
    try:
        return load_settings(**({"data_dir": data_dir} if data_dir else {}))
    except Exception as exc:  # pydantic explains which variable is wrong
        _fail(f"bad configuration: {exc}")
        raise


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug details.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


# -- eval -------------------------------------------------------------------------------------------


def _modes(mode: str) -> list[str]:
    if mode == "all":
        return ["dense", "lexical", "full"]
    if mode not in ("dense", "lexical", "full"):
        _fail(f"--mode must be dense, lexical, full or all, not {mode!r}")
    return [mode]


def _run_eval(
    dataset: dict,
    facts: dict | None,
    data_dir: Path | None,
    leaks: bool,
    as_json: bool,
    title: str,
    group_name: str | None = None,
    modes: list[str] | None = None,
) -> dict:
    with _needs_checkout("dora eval"):
        from bench.memory_eval import run_modes

    modes = modes or ["full"]
    n_probes = sum(len(u.get("probes", [])) for u in dataset["users"].values()) * len(modes)
    with tempfile.TemporaryDirectory(prefix="dora-eval-") as tmp:
        base = _settings()
        # a temporary data dir, but the models (the fast embedder) from where they were fetched
        settings = base.model_copy(
            update={"data_dir": data_dir or Path(tmp), "models_dir": base.resolved_models_dir}
        )
        if settings.chroma_url:
            console.print("[yellow]note:[/] evaluating on the Chroma server in DORA_CHROMA_URL")
        store = build_memory(settings)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=as_json and not sys.stderr.isatty(),
        ) as progress:
            task = progress.add_task(f"{title}: storing, then asking {n_probes} probes", total=n_probes)
            results = run_modes(
                store,
                dataset,
                modes,
                as_facts=facts,
                check_leaks=leaks,
                progress=lambda n: progress.advance(task, n),
            )
        if data_dir is None:
            for uid in dataset["users"]:
                store.wipe_user(uid)
    reports = {mode: r.to_json() for mode, r in results.items()}
    if group_name:
        for report in reports.values():
            report[group_name] = {k.removeprefix("category_"): v for k, v in report["by_kind"].items()}
    report = dict(reports[modes[-1]])  # the last mode (the full ranking with --mode all) on top
    if len(modes) > 1:
        report["modes"] = reports
    if as_json:
        out.print_json(json.dumps(report, ensure_ascii=False))
        return report
    ks = (1, 3, 5, 10) if len(modes) == 1 else (1, 5, 10)
    table = Table(title=f"{title}: {report['probes']} probes, {report['memories']} memories")
    table.add_column("kind")
    table.add_column("n", justify="right")
    for mode in modes:
        for k in ks:
            table.add_column(f"R@{k}" if len(modes) == 1 else f"{mode} R@{k}", justify="right")
    for kind, row in report["by_kind"].items():
        cells = [f"{reports[m]['by_kind'][kind][f'recall@{k}']:.3f}" for m in modes for k in ks]
        table.add_row(kind, str(row["n"]), *cells)
    table.add_row(
        "[bold]all",
        str(report["probes"]),
        *(f"[bold]{reports[m][f'recall@{k}']:.3f}" for m in modes for k in ks),
    )
    out.print(table)
    leak_line = ", ".join(f"{m} {reports[m]['leaks']}" for m in modes) if len(modes) > 1 else report["leaks"]
    out.print(
        f"leaks: {leak_line} (over {report['leak_probes']} cross-user probes)   "
        f"ingest: {report['ingest_per_s']} memories/s   search p50/p95: "
        f"{report.get('search_p50_ms')}/{report.get('search_p95_ms')} ms   "
        f"skipped probes: {report['skipped']}"
    )
    return report


_MODE_HELP = "Ranking: dense (e5 alone), lexical (BM25 alone), full, or all three side by side."


@eval_app.command("memory")
def eval_memory(
    dataset: Annotated[Path, typer.Argument(help="A probe set JSON (see README: Evaluation).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    no_leaks: Annotated[bool, typer.Option("--no-leaks", help="Skip the cross-user leak probes.")] = False,
    data_dir: Annotated[
        Path | None, typer.Option(help="Keep the evaluation store here (default: temporary).")
    ] = None,
    mode: Annotated[str, typer.Option(help=_MODE_HELP)] = "full",
) -> None:
    """Store a probe set's turns as episodes and report recall@1/3/5/10 per kind and cross-user leaks."""
    modes = _modes(mode)
    if not dataset.is_file():
        _fail(f"no such file: {dataset}")
    try:
        data = json.loads(dataset.read_text(encoding="utf-8"))
        assert isinstance(data.get("users"), dict)
    except Exception as exc:
        _fail(f"{dataset} is not a probe set ({{'users': {{...}}}}): {exc}")
    _run_eval(data, None, data_dir, not no_leaks, as_json, dataset.name, modes=modes)


@eval_app.command("locomo")
def eval_locomo(
    path: Annotated[Path, typer.Argument(help="locomo10.json")] = DEFAULT_LOCOMO,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    facts: Annotated[
        bool, typer.Option("--facts", help="Store LoCoMo's gold observations as facts.")
    ] = False,
    no_leaks: Annotated[bool, typer.Option("--no-leaks", help="Skip the cross-user leak probes.")] = False,
    limit: Annotated[int, typer.Option(help="Only the first N conversations (0: all).")] = 0,
    data_dir: Annotated[
        Path | None, typer.Option(help="Keep the evaluation store here (default: temporary).")
    ] = None,
    mode: Annotated[str, typer.Option(help=_MODE_HELP)] = "full",
) -> None:
    """LoCoMo categories 1–4: turns as episodes (default) or gold observations as facts."""
    modes = _modes(mode)
    with _needs_checkout("dora eval locomo"):
        from bench.locomo import load_locomo

    if not path.is_file():
        _fail(f"no such file: {path} (pass the path to locomo10.json)")
    dataset, gold = load_locomo(path)
    if limit:
        keep = list(dataset["users"])[:limit]
        dataset = {"users": {u: dataset["users"][u] for u in keep}}
    _run_eval(
        dataset,
        gold if facts else None,
        data_dir,
        not no_leaks,
        as_json,
        "LoCoMo facts" if facts else "LoCoMo episodes",
        group_name="by_category",
        modes=modes,
    )


@eval_app.command("safety")
def eval_safety(
    dataset: Annotated[Path, typer.Argument(help='A labelled set: {"cases": [{"text", "label", "lang"}]}.')],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    folds: Annotated[
        int,
        typer.Option(help="Judge the example bank itself by K-fold cross-validation (DATASET must be it)."),
    ] = 0,
    errors: Annotated[bool, typer.Option("--errors", help="List the cases it got wrong.")] = False,
) -> None:
    """The safety rules on a labelled set: recall per label, false positives on `none`, ms per message."""
    from dora.wiring.agent import build_safety
    from dora.wiring.runtime import limit_threads

    with _needs_checkout("dora eval safety"):
        from bench.safety import DatasetError, cross_validate, load_cases, report, run

    limit_threads()
    try:
        cases = load_cases(dataset)
    except DatasetError as exc:
        _fail(str(exc))
    settings = _settings()
    classifier, embeddings = build_safety(settings)
    if folds:
        if classifier.bank is None or [e.text for e in cases] != [e.text for e in classifier.bank.examples]:
            _fail("--folds judges the example bank itself: pass agent/safety/bank.json")
        assert classifier.bank is not None
        result = report(cross_validate(classifier.bank, folds, classifier.thresholds))
    else:
        result = run(cases, classifier, embeddings)
    if not errors:
        result.pop("errors")
    if as_json:
        out.print_json(json.dumps(result, ensure_ascii=False))
        return
    table = Table(title=f"{dataset.name}: {result['n']} cases" + (f", {folds}-fold" if folds else ""))
    for col in ("label", "n", "recall"):
        table.add_column(col, justify="left" if col == "label" else "right")
    for label, row in result["by_label"].items():
        table.add_row(label, str(row["n"]), f"{row['recall']:.3f}")
    table.add_row("none (false positives)", str(result["n_none"]), f"{result['false_positive_rate']:.3f}")
    out.print(table)
    for lang, row in result["by_lang"].items():
        out.print(
            f"{lang}: recall {row['recall']}, false positives {row['false_positive_rate']}, n {row['n']}"
        )
    out.print(
        f"recall (all positive cases): {result['recall']}   "
        f"false-positive rate: {result['false_positive_rate']}   "
        f"tier accuracy: {result.get('tier_accuracy')}   imminent recall: {result.get('imminent_recall')}\n"
        f"rules: {result['mean_ms']} ms per message (p95 {result['p95_ms']}); the embedding a turn "
        f"already has: {result.get('embed_ms', '-')} ms"
    )
    if attention := result.get("attention"):
        out.print(
            f"attention band (self-harm and abuse the persona is asked to listen for): recall "
            f"{attention['recall']}, false positives {attention['false_positive_rate']}"
        )
    for e in result.get("errors", []):
        out.print(f"  [{e['label']}] got {e['got'] or '-'}: {e['text']}", markup=False)


eval_app.command("dialogue")(eval_dialogue)
bench_app.command("mem0")(bench_mem0)


# -- bench ------------------------------------------------------------------------------------------


@bench_app.command("memory")
def bench_memory(
    sizes: Annotated[str, typer.Option(help="Comma-separated store sizes.")] = "1000,10000,100000",
    searches: Annotated[int, typer.Option(help="Timed searches per size.")] = 200,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Add throughput and search latency p50/p95 (query embedding included) at each size (embedded Chroma)."""
    from dora.wiring.memory import make_embedder

    with _needs_checkout("dora bench memory"):
        from bench.embedder import describe, embedder_cost
        from bench.memory import run_bench

    try:
        size_list = [int(s) for s in sizes.split(",") if s.strip()]
        assert size_list and all(s > 0 for s in size_list)
    except Exception:
        _fail(f"--sizes must be positive integers separated by commas, got {sizes!r}")
    base = _settings()
    real = make_embedder(base)
    models = base.resolved_models_dir

    def make_store(path: Path, embeddings):  # type: ignore[no-untyped-def]
        return build_memory(
            base.model_copy(update={"data_dir": path, "models_dir": models, "chroma_url": None}), embeddings
        )

    cost = embedder_cost(real)
    console.print(describe(cost))
    results = run_bench(make_store, real, size_list, searches=searches, log=lambda m: console.print(m))
    rows = [r.__dict__ for r in results]
    if as_json:
        out.print_json(json.dumps({"sizes": rows, "embedder": cost}))
        return
    table = Table(title=f"dora bench memory ({describe(cost)})")
    for col in ("size", "add/s (batches of 50)", "add/s (one per call)", "search p50 ms", "search p95 ms"):
        table.add_column(col, justify="right")
    for r in results:
        table.add_row(
            str(r.size), str(r.add_per_s), str(r.add_single_per_s), str(r.search_p50_ms), str(r.search_p95_ms)
        )
    out.print(table)


@bench_app.command("agent")
def bench_agent(
    turns: Annotated[int, typer.Option(help="Timed turns with the stub model.")] = 50,
    local: Annotated[
        bool, typer.Option("--local/--no-local", help="Also time the configured local GGUF model.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Per-turn overhead without the LLM (stub model), and the local model's first-token time and
    tokens/s with a cold and a warm persona prefix."""
    with _needs_checkout("dora bench agent"):
        from bench.agent import run_agent_bench

    base = _settings()
    if local and base.llm != "local":
        _fail("the local-model part needs DORA_LLM=local (or pass --no-local)")
    result = run_agent_bench(base, turns=turns, local=local)
    if as_json:
        out.print_json(json.dumps(result))
        return
    o = result["overhead"]
    table = Table(title="dora bench agent")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row(
        f"stub LLM, {o['turns']} turns: to first token p50 / p95 (target p95 ≤ 30 ms)",
        f"{o['first_token_p50_ms']:.1f} / {o['first_token_p95_ms']:.1f} ms",
    )
    table.add_row(
        "stub LLM: whole turn p50 / p95 (message stored meanwhile)",
        f"{o['turn_p50_ms']:.1f} / {o['turn_p95_ms']:.1f} ms",
    )
    if "local" in result:
        r = result["local"]
        table.add_row("local model", Path(r["model"]).name)
        table.add_row("cold prefix: first token", f"{r['cold_ttft_s']:.2f} s")
        table.add_row("cold prefix: tokens/s", f"{r['cold_tok_per_s']:.1f}")
        table.add_row("warm prefix: first token (target ≤ 2 s)", f"{r['warm_ttft_s']:.2f} s")
        table.add_row("warm prefix: tokens/s (target ≥ 15)", f"{r['warm_tok_per_s']:.1f}")
    out.print(table)


@bench_app.command("tools")
def bench_tools(
    searches: Annotated[int, typer.Option(help="Timed photo selections.")] = 200,
    images: Annotated[int, typer.Option(help="Generated images (needs DORA_IMAGE_MODEL).")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Photo selector latency p50/p95, and seconds per generated image for the configured model."""
    from dora.wiring.agent import build_personas
    from dora.wiring.memory import make_embedder
    from dora.wiring.runtime import limit_threads

    with _needs_checkout("dora bench tools"):
        from bench.imagegen import generator_bench
        from bench.photos import selector_bench

    limit_threads()
    base = _settings()
    result: dict = {"selector": selector_bench(make_embedder(base), build_personas(base), searches)}
    if base.image_model:
        result["generator"] = generator_bench(base, images)
    if as_json:
        out.print_json(json.dumps(result, default=str))
        return
    table = Table(title="dora bench tools")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in result["selector"].items():
        table.add_row(f"selector {key}", f"{value:.2f}" if isinstance(value, float) else str(value))
    for key, value in result.get("generator", {"generator": "not configured (DORA_IMAGE_MODEL)"}).items():
        table.add_row(f"generator {key}", f"{value:.2f}" if isinstance(value, float) else str(value))
    out.print(table)


@bench_app.command("bot")
def bench_bot(
    users: Annotated[int, typer.Option(help="Simulated users talking at once.")] = 50,
    messages: Annotated[int, typer.Option(help="Messages each user sends (each after the last reply).")] = 3,
    llm_latency: Annotated[float, typer.Option(help="Seconds the stand-in LLM takes per call.")] = 0.5,
    setup: Annotated[
        str,
        typer.Option(
            help="Deployment to load: embedded (SQLite, embedded Chroma, polling) or scaled (2 webhook "
            "workers on PostgreSQL, Redis, a Chroma server; see DORA_BENCH_POSTGRES_URL, "
            "DORA_BENCH_REDIS_URL, whose database is emptied)."
        ),
    ] = "embedded",
    profile: Annotated[
        Path | None, typer.Option(help="Write the bot process's cProfile stats (CPU per thread) here.")
    ] = None,
    token_interval: Annotated[
        float, typer.Option(help="Seconds between the stand-in LLM's words (0: the whole reply at once).")
    ] = 0.0,
    stream: Annotated[
        bool | None,
        typer.Option(
            "--stream/--no-stream", help="Stream replies into the chat (default: DORA_STREAM_REPLIES)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """The real bot under load through a loopback Bot API server: turns/s, reply latency p50/p95/p99,
    lost and duplicated replies (target: ≥ 100 turns/s with 500 users, 0 lost)."""
    with _needs_checkout("dora bench bot"):
        from bench.bot import BenchError, run_bot_bench
        from bench.embedder import describe, embedder_cost
    from dora.wiring.memory import make_embedder

    base = _settings()
    if stream is not None:
        base = base.model_copy(update={"stream_replies": stream})
    cost = embedder_cost(make_embedder(base))  # measured apart, before the load, on this machine
    console.print(describe(cost))
    try:
        result = run_bot_bench(
            base,
            users=users,
            messages=messages,
            llm_latency_s=llm_latency,
            setup=setup,
            profile=profile,
            log=lambda m: console.print(m),
            token_interval_s=token_interval,
        )
    except BenchError as exc:
        _fail(str(exc))
        return
    result["embedder"] = cost
    if as_json:
        typer.echo(json.dumps(result))
        return
    table = Table(title=f"dora bench bot ({result['setup']}; {describe(cost)})")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("users × messages, LLM latency", f"{users} × {messages}, {llm_latency} s")
    table.add_row("streamed replies, s between words", f"{result['streaming']}, {token_interval}")
    table.add_row("onboarding (untimed below)", f"{result['onboard_s']:.1f} s")
    table.add_row("turns/s (target ≥ 100 with 500 users)", f"{result['turns_per_s']:.1f}")
    for q in ("p50", "p95", "p99"):
        value = result[f"{q}_ms"]
        table.add_row(f"reply latency {q}", "n/a" if value is None else f"{value:.0f} ms")
    table.add_row("lost (target 0) / of which late", f"{result['lost']} / {result['late']}")
    table.add_row("duplicated / unexpected", f"{result['duplicated']} / {result['unexpected']}")
    table.add_row("wall time of the messages", f"{result['wall_s']:.1f} s")
    table.add_row("replies/s, late ones included", f"{result['replies_per_s']:.1f}")
    per_turn = result["bot_cpu_ms_per_turn"]
    table.add_row(
        f"CPU s: bot / server+users ({result['cpu_count']} cores); bot per turn",
        f"{result['bot_cpu_s']:.1f} / {result['driver_cpu_s']:.1f}; "
        + ("n/a" if per_turn is None else f"{per_turn:.0f} ms"),
    )
    out.print(table)


# -- keys, memory -----------------------------------------------------------------------------------


@keys_app.command("generate")
def keys_generate() -> None:
    """Print a new master key for DORA_SECRET_KEY."""
    from memory.crypto import generate_key_text

    out.print(generate_key_text())


@keys_app.command("rotate")
def keys_rotate(
    new_key: Annotated[str | None, typer.Option(help="The new master key. Default: a fresh one.")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Data folder (DORA_DATA_DIR).")] = None,
) -> None:
    """Replace the master key: the data dir's root secret is re-encrypted under the new one (one
    file, whatever the data's size). Stop the bot and every worker first."""
    import os

    from memory.crypto import generate_key_text, load_or_create_master_key, parse_key_text
    from memory.key_rotation import rotate_master

    settings = _settings(data_dir)
    key_file = settings.data_dir / "secret.key"
    secret = settings.secret_key.get_secret_value() if settings.secret_key else None
    old = load_or_create_master_key(secret, key_file, settings.data_dir / "key.check")
    new_text = new_key or generate_key_text()
    new = parse_key_text(new_text, "--new-key")
    if secret is None:  # the key lives in DATA_DIR/secret.key: the new one is written beside it first
        staged = key_file.with_name("secret.key.new")
        fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(new_text + "\n")
        rotate_master(settings.data_dir, old, new)
        os.replace(staged, key_file)
        console.print(f"[green]rotated[/]: {key_file} holds the new master key")
        return
    rotate_master(settings.data_dir, old, new)
    console.print("[green]rotated[/]. Set DORA_SECRET_KEY to this new key before starting DORA again:")
    typer.echo(new_text)


def agent_user(user_id: str) -> str:
    """A Telegram id (digits) means that bot user; anything else is used as is (`dora chat --user`)."""
    from bot.identity import user_ref

    return user_ref(user_id)


@memory_app.command("search")
def memory_search(
    user_id: str,
    query: str,
    k: Annotated[int, typer.Option(help="How many results.")] = 10,
    show_all: Annotated[bool, typer.Option("--all", help="Include invalidated facts.")] = False,
    explain: Annotated[
        bool, typer.Option("--explain", help="Show each score part: dense, lexical, recency, importance.")
    ] = False,
) -> None:
    """What the agent would retrieve for QUERY (USER: a Telegram id, or a `dora chat --user` name)."""
    store = build_memory(_settings())
    table = Table(title=f"memory search for user {user_id}")
    parts = ("dense", "lexical", "recency", "importance") if explain else ()
    for col in ("score", *parts, "kind", "text"):
        table.add_column(col)
    for r in store.search(agent_user(user_id), query, k=k, include_invalid=show_all, touch=False):
        p = r.parts
        shown = {"dense": f"{p.dense:.3f}", "lexical": f"{p.lexical:.2f}", "recency": f"{p.recency:.2f}"}
        shown["importance"] = f"{p.importance:.1f}"
        table.add_row(f"{p.total:.3f}", *(shown[c] for c in parts), r.memory.kind.value, r.memory.text[:120])
    out.print(table)


@memory_app.command("reembed")
def memory_reembed(
    everything: Annotated[
        bool, typer.Option("--all", help="Every user, not only those embedded in another vector space.")
    ] = False,
    data_dir: Annotated[Path | None, typer.Option(help="Data folder (DORA_DATA_DIR).")] = None,
) -> None:
    """Embed stored memories again with the configured embedder (DORA_EMBEDDINGS_MODEL): needed after
    switching to a model of another vector space, which DORA otherwise refuses. Stop the bot first."""
    from memory.reembed import reembed

    settings = _settings(data_dir)
    embeddings = build_embeddings(settings)
    store = build_memory(settings, embeddings)
    console.print(f"re-embedding with {embeddings.name} (space {embeddings.space!r})...")
    report = reembed(store, everything=everything, log=lambda m: console.print(m))
    store.flush()
    before = ", ".join(f"{n} in {s!r}" for s, n in sorted(report.spaces_before.items())) or "none"
    out.print(
        f"users before: {before}; re-embedded {report.memories} memories of {report.users} users; "
        f"{report.skipped_users} already in {embeddings.space!r}"
        + (f"; {report.keyless_users} collections without a user key skipped" if report.keyless_users else "")
    )


@memory_app.command("list")
def memory_list(
    user_id: str,
    about: Annotated[str | None, typer.Argument(help="Only what is about this (as /memory кот).")] = None,
    lang: Annotated[str, typer.Option(help="Language of the wording: ru or en.")] = "ru",
    limit: Annotated[int, typer.Option(help="Show at most this many (newest first); 0: all.")] = 0,
) -> None:
    """What DORA knows about USER, newest first, as /memory shows it: facts (those no longer true
    with what replaced them) and the user's own remembered messages; ids for `dora memory forget`."""
    from agent.memory_view import memory_lines

    store = build_memory(_settings())
    lines = memory_lines(store, agent_user(user_id), "en" if lang == "en" else "ru", about)
    if not lines:
        what = f" about {about!r}" if about else ""
        console.print(f"[yellow]no memories{what} for user {user_id}[/]")
        raise typer.Exit(2)
    table = Table(title=f"what DORA knows about user {user_id} ({len(lines)})")
    for col in ("id", "when", "kind", "what", "now"):
        table.add_column(col)
    for line in lines[: limit or None]:
        replaced = line.replaced_by or ("(no longer true)" if not line.valid else "")
        table.add_row(line.id, f"{line.when:%Y-%m-%d}", line.kind, line.text, replaced)
    out.print(table)


@memory_app.command("forget")
def memory_forget(
    user_id: str,
    memory_id: Annotated[
        str | None, typer.Argument(help="One memory's id (from `dora memory list`).")
    ] = None,
    about: Annotated[
        str | None, typer.Option("--about", help="Forget everything the user said about this.")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Don't ask to confirm.")] = False,
) -> None:
    """Forget a memory of USER (as /memory's delete button) or everything about a subject (as «забудь
    про кота»): the memories that state it, what was derived from them, and the same text in every
    persona's conversation (recent turns and summary). Shows what matches and asks first."""
    import asyncio

    from memory.text import EmptyTextError

    if (memory_id is None) == (about is None):
        _fail("give either a MEMORY_ID or --about TEXT")
    if about is not None and not about.strip():
        _fail("--about needs a subject: what should be forgotten?")
    settings = _settings()
    uid = agent_user(user_id)

    async def go() -> int:
        from agent.memory_view import render
        from bot.identity import telegram_id
        from dora.wiring.agent import open_companion

        async with open_companion(settings, llm_for=_no_llm, drain_timeout_s=0) as companion:
            if about is not None:
                lines = companion.memory_lines(uid, "ru", about)
                if not lines:
                    console.print(f"[yellow]user {user_id} has nothing about {about!r} to forget[/]")
                    return 0
                console.print(f"{len(lines)} memories about {about!r}:")
                for line in lines:
                    console.print(f"  {line.id[:12]}  {render(line, 'ru')}", markup=False, highlight=False)
                if not yes and not typer.confirm("Forget all of this for good?", err=True):
                    console.print("nothing was forgotten")
                    return 1
                result = await companion.forget_about(uid, about)
            else:
                assert memory_id is not None
                if companion.deps.memory.get(uid, memory_id) is None:
                    console.print(f"[yellow]user {user_id} has no memory {memory_id}[/]")
                    return 2
                result = await companion.forget_memory(uid, memory_id)
            if (account := telegram_id(uid)) is not None:  # a bot user's kept training examples too
                from dora.train.source import forget_kept

                await forget_kept(settings, account, result)
            console.print(
                f"forgotten: {result.deleted} memories deleted, {result.trimmed} messages trimmed, "
                f"{result.threads} conversations rewritten"
            )
            return 0

    try:
        code = asyncio.run(go())
    except EmptyTextError:
        _fail("--about needs a subject: what should be forgotten?")
    if code:
        raise typer.Exit(code)


def _no_llm(role: str) -> object:
    raise RuntimeError("no LLM is needed here")


@demo_app.command("seed")
def demo_seed(
    users: Annotated[int, typer.Option(help="How many demo users.")] = 6,
    data_dir: Annotated[Path | None, typer.Option(help="An empty data folder (DORA_DATA_DIR).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same data.")] = 7,
) -> None:
    """Fill a data dir with demo users: dated RU/EN conversations, facts with updates, PRO, events."""
    import asyncio

    with _needs_checkout("dora demo seed"):
        from testkit.demo import seed_demo

    settings = _settings(data_dir)
    if (settings.data_dir / "bot.sqlite").exists():
        _fail(f"{settings.data_dir} already has data: seed an empty folder (--data-dir)")
    report = asyncio.run(seed_demo(settings, users=users, seed=seed))
    out.print_json(json.dumps(report.__dict__))


def run() -> None:
    """The console script: expected failures become one clear line and exit code 1, not a traceback."""
    from agent.llm.errors import LLMConfigError, LLMUnavailableError
    from common.errors import ModelMissingError
    from dora.errors import ServiceUnavailableError, TokenMissingError
    from dora.model_fetch import FetchError
    from dora.workers import WorkersConfigError
    from memory.chroma_store import StoreUnavailableError
    from memory.crypto import CryptoError
    from memory.embeddings import EmbeddingModelMissing
    from memory.text import EmptyTextError
    from personas.io import CardError
    from personas.library import PersonaNotFoundError

    try:
        app()
    except (
        CryptoError,
        StoreUnavailableError,
        EmbeddingModelMissing,
        EmptyTextError,
        ModelMissingError,
        FetchError,
        CardError,
        PersonaNotFoundError,
        LLMUnavailableError,
        LLMConfigError,
        TokenMissingError,
        ServiceUnavailableError,
        WorkersConfigError,
    ) as exc:
        console.print(f"[bold red]error:[/] {exc}")
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    run()

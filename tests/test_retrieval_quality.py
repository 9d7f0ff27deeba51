"""Retrieval quality as regression guards: the Russian probe set and a LoCoMo conversation.

The thresholds sit a little under what was measured when they were set (see README: Figures), so
a change that makes memory worse fails here; the full figures come from `dora eval`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.locomo import load_locomo
from bench.memory_eval import run_eval
from tests.conftest import FIXTURES

LOCOMO = Path(__file__).resolve().parents[2] / "shared" / "locomo10.json"


@pytest.fixture(params=["embedded"])
def backend(request: pytest.FixtureRequest) -> str:  # quality does not depend on the backend
    return request.param


def test_russian_probe_set(store) -> None:
    dataset = json.loads((FIXTURES / "ru_probes.json").read_text(encoding="utf-8"))
    report = run_eval(store, dataset).to_json()
    assert report["probes"] >= 50 and report["skipped"] == 0
    assert report["leaks"] == 0 and report["leak_probes"] > 0
    assert report["recall@5"] >= 0.82
    assert report["recall@10"] >= 0.88
    by_kind = report["by_kind"]
    assert by_kind["direct"]["recall@5"] >= 0.95
    assert by_kind["paraphrase"]["recall@5"] >= 0.85
    assert by_kind["multihop"]["recall@5"] >= 0.9
    assert by_kind["update"]["recall@5"] >= 0.35


@pytest.mark.skipif(not LOCOMO.exists(), reason=f"LoCoMo not found at {LOCOMO} (../shared/locomo10.json)")
def test_locomo_first_conversation(store) -> None:
    dataset, _ = load_locomo(LOCOMO)
    first = next(iter(dataset["users"]))
    report = run_eval(store, {"users": {first: dataset["users"][first]}}, check_leaks=False).to_json()
    assert report["probes"] >= 100
    assert report["recall@10"] >= 0.75
    assert report["leaks"] == 0

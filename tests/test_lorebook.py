"""Lorebooks: parsed from both spellings (character_book, World Info), matched as SillyTavern does,
and Russian keys by lemma with the real pymorphy3 analyser the agent uses."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from agent.graph import lore_matcher
from personas.lorebook import LoreMatcher, parse_lorebook

FIXTURES = Path(__file__).parent / "fixtures" / "cards"


def book(*entries: dict[str, Any], **opts: Any) -> Any:
    return parse_lorebook([{"entries": list(entries), **opts}])


def entry(keys: list[str], content: str = "", **kw: Any) -> dict[str, Any]:
    return {"keys": keys, "content": content or f"about {keys[0] if keys else 'nothing'}", **kw}


def fired(matcher: LoreMatcher, lorebook: Any, *messages: str, budget: int | None = None) -> list[str]:
    return [h.entry.name for h in matcher.match(lorebook, list(messages), token_budget=budget)]


@pytest.fixture(scope="module")
def ru() -> LoreMatcher:
    return lore_matcher()


@pytest.fixture
def plain() -> LoreMatcher:
    return LoreMatcher()


def test_russian_key_matches_by_lemma_and_not_otherwise(ru: LoreMatcher) -> None:
    world = parse_lorebook([json.loads((FIXTURES / "atlantis_world.json").read_text("utf-8"))])
    assert fired(ru, world, "расскажи про Атлантиду") == ["Атлантида"]
    assert fired(ru, world, "мы были в Атлантиде?") == ["Атлантида"]
    assert fired(ru, world, "расскажи про Антарктиду") == []
    assert fired(ru, world, "как прошёл день?") == []
    # a text-only matcher cannot see «Атлантиду» in the key «Атлантида»
    assert fired(LoreMatcher(), world, "расскажи про Атлантиду") == []


def test_multi_word_keys_match_by_lemma_in_order(ru: LoreMatcher) -> None:
    lorebook = book(entry(["красная площадь"], name="square"))
    assert fired(ru, lorebook, "гуляли по Красной площади") == ["square"]
    assert fired(ru, lorebook, "площадь была красной") == []
    assert fired(ru, lorebook, "мяч был красный", "площади рядом нет") == []  # never across two messages


@pytest.mark.parametrize(
    ("logic", "message", "fires"),
    [
        (0, "dragon and sword", True),  # AND ANY
        (0, "dragon alone", False),
        (3, "dragon, sword and shield", True),  # AND ALL
        (3, "dragon and sword", False),
        (2, "dragon alone", True),  # NOT ANY
        (2, "dragon and shield", False),
        (1, "dragon and sword", True),  # NOT ALL
        (1, "dragon, sword and shield", False),
    ],
)
def test_selective_logic(plain: LoreMatcher, logic: int, message: str, fires: bool) -> None:
    lorebook = book(
        entry(
            ["dragon"],
            secondary_keys=["sword", "shield"],
            selective=True,
            extensions={"selectiveLogic": logic},
        )
    )
    assert bool(fired(plain, lorebook, message)) is fires


def test_secondary_keys_ignored_when_not_selective(plain: LoreMatcher) -> None:
    lorebook = book(entry(["dragon"], secondary_keys=["sword"], selective=False))
    assert fired(plain, lorebook, "a dragon")


def test_case_sensitivity_and_whole_words(plain: LoreMatcher) -> None:
    sensitive = book(entry(["Rose"], case_sensitive=True, name="flower"))
    assert fired(plain, sensitive, "Rose smiled") == ["flower"]
    assert fired(plain, sensitive, "the rose smelled") == []
    substring = book(entry(["cat"], name="cat"))
    assert fired(plain, substring, "a concatenation") == ["cat"]  # SillyTavern's default: substring
    whole = book(entry(["cat"], name="cat", extensions={"match_whole_words": True}))
    assert fired(plain, whole, "a concatenation") == []
    assert fired(plain, whole, "my cat, Bublik") == ["cat"]


def test_regex_keys(plain: LoreMatcher) -> None:
    lorebook = book(entry(["/colou?r of (the )?sky/i"], name="sky"))
    assert fired(plain, lorebook, "What COLOR OF THE SKY is it?") == ["sky"]
    assert fired(plain, lorebook, "the sea") == []
    assert (
        fired(plain, book(entry(["/[unclosed/"], name="bad")), "[unclosed") == []
    )  # a bad regex never fires


def test_constant_disabled_and_scan_depth(plain: LoreMatcher) -> None:
    lorebook = book(
        entry([], name="always", constant=True),
        entry(["tea"], name="off", enabled=False),
        entry(["storm"], name="storm"),
        scan_depth=1,
    )
    assert fired(plain, lorebook, "storm last night", "tea?") == [
        "always"
    ]  # only the last message is scanned
    assert fired(plain, lorebook, "storm again") == ["always", "storm"]
    deeper = book(entry(["storm"], name="storm", extensions={"scan_depth": 3}), scan_depth=1)
    assert fired(plain, deeper, "storm last night", "and?", "hm") == ["storm"]


def test_insertion_order_and_token_budget(plain: LoreMatcher) -> None:
    lorebook = book(
        entry(["sea"], "a" * 350, name="low", insertion_order=1),
        entry(["sea"], "b" * 350, name="high", insertion_order=200),
        entry(["sea"], "c" * 350, name="mid", insertion_order=50),
        entry([], "d" * 35, name="const", constant=True, insertion_order=0),
    )
    # the prompt order: lowest insertion order first, highest nearest the conversation
    assert fired(plain, lorebook, "the sea") == ["const", "low", "mid", "high"]
    # 100 tokens apiece (the constant 10): filled from the highest order down, stopping at the first
    # entry that does not fit, constants included, as SillyTavern does
    assert fired(plain, lorebook, "the sea", budget=250) == ["mid", "high"]
    assert fired(plain, lorebook, "the sea", budget=310) == ["const", "low", "mid", "high"]
    # the book's own budget counts too: the smaller wins
    small = parse_lorebook([{"token_budget": 120, "entries": [entry(["sea"], "x" * 350, name="x")]}])
    assert fired(plain, small, "sea", budget=1000) == ["x"]
    assert fired(plain, small, "sea", budget=50) == []


def test_probability_and_recursion() -> None:
    never = book(entry(["sea"], name="never", extensions={"probability": 0, "useProbability": True}))
    assert fired(LoreMatcher(rng=random.Random(1)), never, "sea") == []
    off = book(entry(["sea"], name="always", extensions={"probability": 0, "useProbability": False}))
    assert fired(LoreMatcher(rng=random.Random(1)), off, "sea") == ["always"]
    chain = [
        entry(["ship"], "The ship's reactor is called Old Bess.", name="ship", insertion_order=1),
        entry(["Old Bess"], "Old Bess overheats.", name="bess", insertion_order=2),
    ]
    assert fired(LoreMatcher(), book(*chain, recursive_scanning=True), "the ship") == ["ship", "bess"]
    assert fired(LoreMatcher(), book(*chain), "the ship") == ["ship"]  # recursion is the book's choice


def test_world_info_and_character_book_spellings_and_junk() -> None:
    world = json.loads((FIXTURES / "atlantis_world.json").read_text("utf-8"))
    parsed = parse_lorebook([world])
    assert [e.name for e in parsed.entries] == ["Атлантида", "Жрецы Атлантиды"]
    assert parsed.entries[1].secondary == ("Атлантида",) and parsed.entries[1].logic == 3
    card = json.loads((FIXTURES / "captain_chub_v2.json").read_text("utf-8"))
    chars = parse_lorebook([card["data"]["character_book"]])
    assert [e.name for e in chars.entries] == ["Ship", "Reactor", "Father"]  # the disabled one is left out
    assert chars.scan_depth == 3 and chars.token_budget == 300 and chars.recursive
    junk = parse_lorebook(
        [None, "text", {"entries": "x"}, {"entries": [None, {"keys": ["a"]}, {"content": "c"}]}]
    )
    assert not junk


def test_priests_need_both_keys(ru: LoreMatcher) -> None:
    """AND ALL with a Russian secondary key: «жрецы» alone is not enough, «жрецы Атлантиды» is."""
    world = parse_lorebook([json.loads((FIXTURES / "atlantis_world.json").read_text("utf-8"))])
    assert fired(ru, world, "кто такие жрецы?") == []
    assert fired(ru, world, "кем были жрецы Атлантиды?") == ["Жрецы Атлантиды", "Атлантида"]


def test_a_card_book_and_a_world_file_both_fire(ru: LoreMatcher) -> None:
    """Both books number their entries from 0: neither hides the other."""
    card_book = {"entries": [entry(["Санторини"], name="card", id=0)]}
    world = json.loads((FIXTURES / "atlantis_world.json").read_text("utf-8"))
    both = parse_lorebook([card_book, world])
    assert sorted(fired(ru, both, "Атлантида — это Санторини?")) == ["card", "Атлантида"]


def test_v3_decorators(plain: LoreMatcher) -> None:
    lorebook = book(
        entry(["x"], "@@dont_activate\nnever", name="never"),
        entry([], "@@activate\nalways", name="always"),
        entry(["sea"], "@@depth 4\nthe sea is cold", name="sea"),
    )
    assert fired(plain, lorebook, "the sea, x") == ["always", "sea"]
    assert [e.content for e in lorebook.entries] == ["always", "the sea is cold"]
    assert any("decorators" in what for what in lorebook.ignored)

"""`dora eval dialogue`: the judge (by lemma, old values of changed facts), the scenario file's
checks, and a real run of the command against the loopback OpenAI-compatible server, which shows
that the question is asked where only long-term memory holds the telling."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.dialogue import Scenario, ScenarioError, judge, load_scenarios, mentions
from tests.openai_server import OpenAIServer

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
SETS = [FIXTURES / "dialogue.json", FIXTURES / "dialogue_heldout.json"]
DEV2 = FIXTURES / "dialogue_dev2.json"  # a development set like the held-out one: news around each fact


def test_a_word_counts_in_any_of_its_forms_and_only_as_a_word() -> None:
    assert mentions("Конечно помню, ты рассказывала про Бублика!", "Бублик")
    assert mentions("Ты живёшь в Казани, верно?", "Казань")
    assert mentions("you said you were allergic to SHELLFISH", "shellfish")
    assert mentions("у тебя день рождения 14 марта", "14 марта")
    assert not mentions("у тебя день рождения 15 марта", "14 марта")
    assert not mentions("бублики с маком вкусные", "Бубликов переулок")
    assert not mentions("Я не могу уточнить имя кота", "Бублик")


def test_an_old_value_in_the_reply_fails_a_changed_fact() -> None:
    s = Scenario(
        "x",
        "ru",
        ("живу в Самаре", "переехала в Екатеринбург"),
        "где я живу?",
        ("Екатеринбург",),
        ("Самара",),
    )
    assert judge(s, "Ты теперь в Екатеринбурге!")[0]
    passed, found, contradicted = judge(s, "В Екатеринбурге, а раньше в Самаре")
    assert not passed and found == ["Екатеринбург"] and contradicted == ["Самара"]
    assert not judge(s, "Не помню, прости")[0]


@pytest.mark.parametrize("path", [*SETS, DEV2], ids=lambda p: p.name)
def test_the_scenario_sets_load_and_cover_what_the_issue_asks(path: Path) -> None:
    scenarios = load_scenarios(path)
    assert len(scenarios) >= 20
    assert {s.lang for s in scenarios} == {"ru", "en"}
    assert sum(s.lang == "ru" for s in scenarios) > len(scenarios) / 2  # Russian first
    assert any(s.expect_none for s in scenarios), "a changed fact"
    assert any(s.ask_persona and s.ask_persona != s.persona for s in scenarios), "another persona asks"


def test_the_held_out_scenarios_are_apart_from_the_tuning_ones() -> None:
    tuning, heldout = (load_scenarios(p) for p in SETS)
    assert not {s.ask for s in tuning} & {s.ask for s in heldout}
    assert not {t for s in tuning for t in s.tell} & {t for s in heldout for t in s.tell}
    dev2 = load_scenarios(DEV2)
    assert not {s.ask for s in dev2} & {s.ask for s in heldout}
    assert not {t for s in dev2 for t in s.tell} & {t for s in heldout for t in s.tell}
    assert len(tuning) + len(heldout) >= 60


def test_a_bad_scenario_file_says_what_is_wrong(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    for content, words in [
        ("{", "not JSON"),
        ('{"cases": []}', "expected"),
        ('{"scenarios": [{"id": "a", "tell": [], "ask": "?", "expect_any": ["x"]}]}', "'tell'"),
        ('{"scenarios": [{"id": "a", "tell": ["t"], "ask": "?", "expect_any": []}]}', "'expect_any'"),
        (
            '{"scenarios": [{"id": "a", "tell": ["t"], "ask": "?", "expect_any": ["x"], "lang": "de"}]}',
            "lang",
        ),
    ]:
        bad.write_text(content, encoding="utf-8")
        with pytest.raises(ScenarioError, match=words):
            load_scenarios(bad)


def _run(dataset: Path, data_dir: Path, llm: OpenAIServer, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DORA_DATA_DIR": str(data_dir),
        "DORA_LLM": "openai",
        "DORA_LLM_BASE_URL": llm.base_url,
        "DORA_LLM_MODEL": "test-model",
        "HF_HUB_OFFLINE": "1",
    }
    exe = Path(sys.executable).with_name("dora")
    return subprocess.run(
        [str(exe), "eval", "dialogue", str(dataset), *extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def _remembered(message: dict) -> bool:
    """A remembered message the prompt gives back as the user's earlier turn."""
    return message["role"] == "user" and str(message.get("content")).startswith("(раньше, ")


def test_dora_eval_dialogue_asks_where_only_long_term_memory_knows(tmp_path: Path) -> None:
    """The model (a loopback server answering «Бублик!» every time) passes the scenario that
    expects Бублик and fails the one that expects Казань; the ask never carries the telling as a
    recent turn, for the same persona (its thread started anew) or for another persona of the same
    user, and the same persona gets it back from memory."""
    dataset = tmp_path / "s.json"
    dataset.write_text(
        json.dumps(
            {
                "scenarios": [
                    {
                        "id": "cat",
                        "lang": "ru",
                        "tell": ["у меня рыжий кот Бублик"],
                        "ask": "как зовут кота?",
                        "expect_any": ["Бублик"],
                    },
                    {
                        "id": "city",
                        "lang": "ru",
                        "tell": ["я живу в Казани"],
                        "ask": "где я живу?",
                        "expect_any": ["Казань"],
                        "ask_persona": "coach",
                    },
                ]
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    with OpenAIServer() as llm:
        llm.ignore_tools = True  # extraction gets no facts: the episodes must carry the memory
        llm.text = "Бублик!"
        done = _run(dataset, tmp_path / "operator-data", llm, "--json")
        requests = list(llm.requests)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["n"] == 2 and result["hit_rate"] == 0.5
    assert result["by_lang"] == {"ru": {"hit_rate": 0.5, "n": 2}}
    assert [f["id"] for f in result["failures"]] == ["city"]
    assert result["mean_reply_s"] > 0
    asks = {
        ask: [
            r
            for r in requests
            if [m.get("content") for m in r.get("messages", []) if m["role"] == "user"][-1:] == [ask]
        ]
        for ask in ("как зовут кота?", "где я живу?")
    }
    for ask, told in (("как зовут кота?", "у меня рыжий кот Бублик"), ("где я живу?", "я живу в Казани")):
        assert asks[ask], f"the ask {ask!r} never reached the model"
        turns = [m for m in asks[ask][-1]["messages"] if not _remembered(m)]
        assert all(told not in str(m.get("content")) for m in turns), "the telling is still a recent turn"
    # the same persona in a new thread: the telling comes back from long-term memory (the episode, as
    # the user's marked earlier turn); another persona sees only shared facts, which this model
    # (answering no tool calls) never gives
    remembered = [m for m in asks["как зовут кота?"][-1]["messages"] if _remembered(m)]
    assert [m["content"] for m in remembered] == ["(раньше, сегодня) у меня рыжий кот Бублик"]
    assert not any(_remembered(m) for m in asks["где я живу?"][-1]["messages"])
    assert all("Казан" not in str(m.get("content")) for m in asks["где я живу?"][-1]["messages"][:-1])
    assert not (tmp_path / "operator-data").exists(), "the evaluation wrote into the operator's data dir"


def test_told_users_are_kept_and_asked_again_without_retelling(tmp_path: Path) -> None:
    dataset = tmp_path / "one.json"
    dataset.write_text(
        json.dumps(
            {
                "scenarios": [
                    {
                        "id": "cat",
                        "tell": ["у меня рыжий кот Бублик"],
                        "ask": "как зовут кота?",
                        "expect_any": ["Бублик"],
                    }
                ]
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    told = tmp_path / "told"

    def said(requests: list[dict], text: str) -> int:
        return sum(
            any(m["role"] == "user" and m.get("content") == text for m in r.get("messages", []))
            for r in requests
        )

    runs = []
    for _ in range(2):
        with OpenAIServer() as llm:
            llm.ignore_tools = True
            llm.text = "Бублик!"
            done = _run(dataset, tmp_path / "data", llm, "--json", "--told", str(told), "--repeat", "2")
            runs.append((done, list(llm.requests)))
    for done, _ in runs:
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert result["n"] == 2 and result["hit_rate"] == 1.0  # asked twice, from the kept telling
    (_, first), (_, second) = runs
    assert said(first, "у меня рыжий кот Бублик") >= 1 and said(first, "как зовут кота?") == 2
    assert said(second, "у меня рыжий кот Бублик") == 0  # the second run did not tell again
    assert said(second, "как зовут кота?") == 2
    assert json.loads((told / "told.json").read_text()) == ["cat"]
    # each run asks a copy: the kept store holds the telling, and no question of an earlier run
    asked = [r for r in second if said([r], "как зовут кота?")]
    memory = [str(m.get("content")) for m in asked[0]["messages"] if _remembered(m)]
    assert memory == ["(раньше, сегодня) у меня рыжий кот Бублик"]
    assert not (tmp_path / "data").exists()

"""`dora train data`'s parts on their own: the PII scrubber, operator-brought --mix files, the split,
and the choice of SFT examples and pairs (the end-to-end run through the bot is in test_bot_feedback)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.db.feedback import DOWN, UP, KeptExample
from dora.train.dataset import MixError, Record, build, read_mix, split, write
from dora.train.scrub import Scrubber
from personas.library import PersonaLibrary

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "gone", "placeholder"),
    [
        ("Мой номер +7 (915) 123-45-67, звони вечером", "915", "[PHONE]"),
        ("набери 8 916 123 45 67 или 89161234567", "916", "[PHONE]"),
        ("call me at 415-555-0132 tonight", "555", "[PHONE]"),
        ("пиши на anna.petrova@mail.ru", "petrova", "[EMAIL]"),
        ("Живу на ул. Ленина, д. 5, кв. 12, заходи", "Ленина", "[ADDRESS]"),
        ("мы переехали на улицу Пушкина 10", "Пушкина", "[ADDRESS]"),
        ("I live at 221 Baker Street, Apt 3", "Baker", "[ADDRESS]"),
        ("Меня зовут Анна", "Анна", "[NAME]"),
        ("my name is John Smith, nice to meet you", "John", "[NAME]"),
    ],
)
def test_patterns_replace_personal_data(text: str, gone: str, placeholder: str) -> None:
    scrubber = Scrubber(ner=False)
    out = scrubber.scrub(text)
    assert gone not in out and placeholder in out
    assert sum(scrubber.counts.values()) >= 1


def test_patterns_leave_dates_sums_and_the_personas_names() -> None:
    scrubber = Scrubber(ner=False, keep=["Дора"])
    for text in (
        "встреча 2026-12-07 в 19:30",
        "заплатила 1 500 000 рублей",
        "Меня зовут Дора",
        "в 2025 году",
    ):
        assert scrubber.scrub(text) == text
    assert not scrubber.counts


def test_natasha_finds_russian_names_and_places() -> None:
    pytest.importorskip("natasha", reason="the name scrubber needs the train extra (natasha)")
    scrubber = Scrubber(keep=["Дора"])
    out = scrubber.scrub("Вчера мы с Ольгой Петровой гуляли по Казани, а Дора рассказывала сказки.")
    assert "Ольг" not in out and "Петров" not in out and "Казан" not in out
    assert "[NAME]" in out and "[LOCATION]" in out and "Дора" in out  # the persona's own name stays
    assert scrubber.counts["NAME"] == 1 and scrubber.counts["LOCATION"] == 1
    # a persona's name is kept in its cases, and only it: «Вероника» is not a form of «Вера»
    kept = Scrubber(keep=["Вера", "Дора"]).scrub("Дорой я довольна, а Вероника нет")
    assert kept.startswith("Дорой") and "Вероника" not in kept


def _mix(tmp_path: Path, *rows: object) -> Path:
    path = tmp_path / "open.jsonl"
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows))
    return path


SFT = {"messages": [{"role": "user", "content": "Привет"}, {"role": "assistant", "content": "Привет!"}]}
DPO = {
    "prompt": [{"role": "user", "content": "Как дела?"}],
    "chosen": [{"role": "assistant", "content": "Хорошо, а у тебя?"}],
    "rejected": [{"role": "assistant", "content": "Я языковая модель."}],
}


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ("{not json", "not JSON"),
        ('["a list"]', "expected a JSON object"),
        ({"text": "hi"}, "neither format"),
        ({"messages": [{"role": "user", "content": "hi"}]}, "end with an assistant"),
        ({"messages": [{"role": "bot", "content": "hi"}]}, r"messages\[0\] must be"),
        ({**DPO, "chosen": [{"role": "user", "content": "x"}]}, "chosen must be one assistant"),
        ({**DPO, "prompt": DPO["chosen"]}, "prompt must end with a user"),
    ],
)
def test_a_bad_mix_line_is_named_by_file_and_line(tmp_path: Path, bad: object, says: str) -> None:
    path = _mix(tmp_path, SFT, "", bad)
    with pytest.raises(MixError, match=says) as caught:
        read_mix(path)
    assert f"{path}:3:" in str(caught.value)


def test_mixed_data_is_detected_by_its_keys_and_counted_on_the_card(tmp_path: Path) -> None:
    path = _mix(tmp_path, SFT, DPO, SFT)
    records = read_mix(path)
    assert [r.kind for r in records] == ["sft", "dpo", "sft"]
    built = build({}, PersonaLibrary(), mix=[path], scrub=False)
    figures = write(tmp_path / "out", built, eval_fraction=0.0, seed=1, scrubbed=False)
    assert figures["files"] == {"sft_train": 2, "sft_eval": 0, "dpo_train": 1, "dpo_eval": 0}
    card = (tmp_path / "out" / "README.md").read_text(encoding="utf-8")
    assert "`open.jsonl`: 2 SFT examples, 1 preference pairs" in card and "Not scrubbed" in card
    written = [json.loads(x) for x in (tmp_path / "out" / "dpo_train.jsonl").read_text().splitlines()]
    assert written == [DPO]


def test_the_split_keeps_groups_whole_and_follows_the_seed() -> None:
    records = [Record("sft", {"n": i}, group=f"g{i // 2}", source="x") for i in range(20)]
    train, test = split(records, 0.3, seed=7)
    assert len(test) == 6 and len(train) == 14  # 3 of 10 groups, two records each
    assert not {r.group for r in train} & {r.group for r in test}
    again, _ = split(records, 0.3, seed=7)
    other, _ = split(records, 0.3, seed=8)
    assert [r.data for r in again] == [r.data for r in train] and [r.data for r in other] != [
        r.data for r in train
    ]
    _, one = split(records[:4], 0.01, seed=0)
    assert len({r.group for r in one}) == 1  # a tiny fraction still holds one group out


def _kept(
    n: int, reply: str, rating: int | None = None, replaces: int | None = None, turn: str = "t1"
) -> KeptExample:
    return KeptExample(
        id=f"x{n}",
        user_id=1,
        chat_id=1,
        message_id=n,
        persona_id="dora",
        lang="ru",
        kept_at=NOW,
        context=[
            {"role": "assistant", "content": "Привет! Я Дора.", "id": "g"},
            {"role": "user", "content": "Скучно", "id": turn},
        ],
        reply=reply,
        rating=rating,
        replaces=replaces,
        turn_id=turn,
    )


def test_sft_takes_what_was_not_rejected_and_a_regenerated_reply_makes_a_pair() -> None:
    shared = {
        1: [
            _kept(10, "Первый ответ", rating=DOWN),
            _kept(11, "Второй ответ", replaces=10),
            _kept(12, "Третий ответ", rating=UP, turn="t2"),
            _kept(13, "Отклонённый без пары", rating=DOWN, turn="t3"),
        ]
    }
    built = build(shared, PersonaLibrary(), scrub=False)
    sft = [r for r in built.records if r.kind == "sft"]
    dpo = [r for r in built.records if r.kind == "dpo"]
    assert [r.data["messages"][-1]["content"] for r in sft] == ["Второй ответ", "Третий ответ"]
    assert [r.rating for r in sft] == ["unrated", "up"]
    assert len(dpo) == 1 and dpo[0].group == sft[0].group  # one turn: one side of the split
    pair = dpo[0].data
    assert pair["chosen"][0]["content"] == "Второй ответ" and pair["rejected"][0]["content"] == "Первый ответ"
    assert [m["role"] for m in pair["prompt"]] == ["system", "assistant", "user"]
    shared[1][1].rating = DOWN  # the regenerated one rejected too: no pair, no SFT
    again = build(shared, PersonaLibrary(), scrub=False)
    assert [r.kind for r in again.records] == ["sft"]


def test_the_command_names_a_bad_mix_line_and_builds_an_empty_set_from_nothing(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from dora.cli import app

    bad = _mix(tmp_path, SFT, {"messages": "hi"})
    data = ["--data-dir", str(tmp_path / "data")]
    failed = CliRunner().invoke(
        app, ["train", "data", "--out", str(tmp_path / "x"), "--mix", str(bad), *data]
    )
    assert failed.exit_code == 1 and "open.jsonl:2" in failed.output and not (tmp_path / "x").exists()
    good = _mix(tmp_path, SFT, DPO)
    built = CliRunner().invoke(
        app, ["train", "data", "--out", str(tmp_path / "y"), "--mix", str(good), *data]
    )
    assert built.exit_code == 0, built.output
    assert "0 SFT examples and 0 preference pairs from 0 users" in built.output
    assert (tmp_path / "y" / "sft_train.jsonl").read_text().count("\n") + (
        tmp_path / "y" / "sft_eval.jsonl"
    ).read_text().count("\n") == 1

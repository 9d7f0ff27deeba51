"""The photo selector on the shipped library with the real e5, request parsing, and bad photo files.

The labelled set below is also the calibration set of ``tools.photos``' thresholds (the module
docstring has the numbers): direct requests and natural mentions that must pick one photo, lines
that must pick nothing on any persona, and requests for things a persona has no photo of.
"""

from __future__ import annotations

import io
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.photos import selector_bench
from memory.embeddings import E5Embeddings, RecentQueries
from personas import PersonaCard, PersonaLibrary
from personas.card import Photo
from tools.image_policy import check_image_request
from tools.photos import (
    DEFAULT_DIRECT_MIN_SCORE,
    DEFAULT_MIN_SCORE,
    TELEGRAM_MAX_BYTES,
    PhotoSelector,
    prepare_for_telegram,
    wants_photo,
)

# (persona, what the user wrote, the photo files that fit, was it a direct request)
RELEVANT: list[tuple[str, str, set[str], bool]] = [
    ("kylie", "пришли фото с пляжа", {"beach"}, True),
    ("kylie", "скинь фотку моря", {"beach"}, True),
    ("kylie", "send me a pic from the beach", {"beach"}, True),
    ("kylie", "покажи фото заката", {"rooftop_sunset"}, True),
    ("kylie", "а есть фото с озера в горах?", {"mountain_lake"}, True),
    ("dora", "покажи своего кота", {"cat_evening"}, True),
    ("dora", "пришли фотку своего утреннего кофе", {"morning_coffee"}, True),
    ("dora", "send me a photo of your cat", {"cat_evening"}, True),
    ("dora", "покажи фото, что ты сейчас рисуешь", {"sketchbook"}, True),
    ("dora", "скинь фото из парка", {"park_walk"}, True),
    ("mark", "покажи, что ты готовишь? пришли фото", {"cooking"}, True),
    ("mark", "скинь фото с гитарой", {"guitar"}, True),
    ("mark", "send a pic of your guitar", {"guitar"}, True),
    ("mark", "пришли фотографию с балкона", {"morning_coffee"}, True),
    ("star", "покажи фото со сцены", {"stage"}, True),
    ("star", "send me a photo from the concert", {"stage"}, True),
    ("star", "скинь снимок из студии", {"studio"}, True),
    ("star", "фото из гримёрки?", {"backstage"}, True),
    ("coach", "покажи фото своего офиса", {"office"}, True),
    ("dora", "только что сварила кофе", {"morning_coffee"}, False),
    ("dora", "good morning! just made my first coffee", {"morning_coffee"}, False),
    ("dora", "гуляла сегодня в парке, листья такие красивые", {"park_walk"}, False),
    ("dora", "а твой кот тоже любит спать на пледе?", {"cat_evening"}, False),
    ("kylie", "мечтаю сейчас оказаться на море", {"beach"}, False),
    ("kylie", "смотрел сегодня на закат и вспомнил тебя", {"rooftop_sunset"}, False),
    ("kylie", "I love hiking in the mountains", {"mountain_lake"}, False),
    ("mark", "что готовишь на ужин?", {"cooking"}, False),
    ("mark", "ты умеешь играть на гитаре?", {"guitar"}, False),
    ("mark", "у нас весь день льёт дождь", {"rain_walk"}, False),
    ("star", "how was the concert last night?", {"stage"}, False),
    ("star", "как идёт запись нового трека в студии?", {"studio"}, False),
]
# Paraphrases that name no tag: what the embedder alone can do. Not required to pick (most don't),
# but whatever they pick must be right.
PARAPHRASES: list[tuple[str, str, set[str]]] = [
    ("dora", "мой пушистый опять мурлычет у меня на коленях", {"cat_evening"}),
    ("dora", "обожаю шуршать жёлтыми листьями", {"park_walk"}),
    ("kylie", "хочу валяться на солнце у воды и слушать прибой", {"beach"}),
    ("mark", "испёк сегодня хлеб по бабушкиному рецепту", {"cooking"}),
    ("mark", "разучиваю аккорды", {"guitar"}),
    ("star", "волнуешься перед выходом к зрителям?", {"backstage", "stage"}),
    ("coach", "у меня завтра собеседование на аналитика", {"office"}),
    ("kylie", "what a gorgeous evening sky today", {"rooftop_sunset"}),
]
IRRELEVANT = [
    "у меня завтра экзамен по матанализу",
    "what's the capital of France",
    "расскажи про налоги",
    "как дела?",
    "мне сегодня грустно",
    "I'm so tired today",
    "мой начальник опять на меня наорал",
    "посоветуй какой-нибудь сериал",
    "сколько будет два плюс два",
    "my sister is getting married next month",
    "я записался к стоматологу на пятницу",
    "что ты думаешь о политике?",
    "I need to fix my car this weekend",
    "я сегодня поздно вернулся домой с работы",
    "спасибо, что выслушала",
]
# Direct requests for something the persona has no photo of.
DIRECT_MISSING = [
    ("dora", "пришли фото с пляжа"),
    ("mark", "send me a pic from the beach"),
    ("star", "покажи своего кота"),
    ("coach", "скинь фото с гитарой"),
    ("kylie", "покажи фото своей машины"),
    ("dora", "send me a photo of your dog"),
    ("mark", "фото из спортзала?"),
    ("star", "пришли фото из офиса"),
    ("kylie", "покажи свою собаку"),
    ("coach", "send me a selfie at the gym"),
    ("dora", "скинь фото с концерта"),
    ("mark", "покажи фото заката"),
]


def stem(file: str) -> str:
    return Path(file).stem


@pytest.fixture(scope="module")
def library() -> PersonaLibrary:
    return PersonaLibrary()


@pytest.fixture(scope="module")
def cached(embeddings: E5Embeddings) -> RecentQueries:
    """The real e5, remembering query vectors: the labelled set asks the same line of every persona."""
    return RecentQueries(embeddings, size=100_000, ttl_s=float("inf"))


@pytest.fixture(scope="module")
def selector(cached: RecentQueries) -> PhotoSelector:
    return PhotoSelector(cached)


def copy_card(card: PersonaCard, folder: Path) -> PersonaCard:
    """The card with its photos copied into ``folder``, so a test can break or change them."""
    assert card.base_dir is not None
    for photo in card.dora.photos:
        target = folder / photo.file
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(card.photo_path(photo), target)
    return card.with_base_dir(folder)


# -- calibration on the shipped library ---------------------------------------------------------------


def test_labelled_set_picks_right_and_irrelevant_picks_nothing(
    selector: PhotoSelector, library: PersonaLibrary
) -> None:
    wrong, missed = [], []
    for persona, text, fits, direct in RELEVANT:
        choice = selector.select(library.get(persona), text, include_pro=True, direct_request=direct)
        if choice is None:
            missed.append(text)
        elif stem(choice.photo.file) not in fits:
            wrong.append((text, choice.photo.file))
    assert not wrong and not missed, (wrong, missed)

    for persona, text, fits in PARAPHRASES:
        choice = selector.select(library.get(persona), text, include_pro=True)
        assert choice is None or stem(choice.photo.file) in fits, (text, choice)

    picked = [
        (text, card.id, choice.photo.file, round(choice.score, 3))
        for text in IRRELEVANT
        for card in library
        if (choice := selector.select(card, text, include_pro=True)) is not None
    ]
    assert picked == []

    for persona, text in DIRECT_MISSING:
        choice = selector.select(library.get(persona), text, include_pro=True, direct_request=True)
        assert choice is None, (persona, text, choice)


def test_thresholds_have_margin(selector: PhotoSelector, library: PersonaLibrary) -> None:
    """The calibrated thresholds sit between the classes, not on the edge of either."""

    def best(persona: str, text: str) -> float:
        _, scores = selector.scores(library.get(persona), text)
        return float(np.max(scores))

    irrelevant = max(best(card.id, text) for text in IRRELEVANT for card in library)
    missing = max(best(p, wants_photo(t).subject or t) for p, t in DIRECT_MISSING)  # type: ignore[union-attr]
    natural = min(best(p, t) for p, t, _, direct in RELEVANT if not direct)
    asked = min(best(p, wants_photo(t).subject or wants_photo(t).context) for p, t, _, d in RELEVANT if d)  # type: ignore[union-attr]
    assert irrelevant + 0.01 < DEFAULT_MIN_SCORE < natural - 0.01
    assert missing + 0.01 < DEFAULT_DIRECT_MIN_SCORE < asked - 0.01


def test_caption_in_users_language(selector: PhotoSelector, library: PersonaLibrary) -> None:
    card = library.get("dora")
    ru = selector.select(card, "пришли фото кота", include_pro=False, direct_request=True)
    en = selector.select(
        card, "send me a photo of your cat", lang="en", include_pro=False, direct_request=True
    )
    assert ru and en and ru.photo == en.photo
    assert ru.caption == "Вечер с Персиком и пледом"
    assert en.caption == "An evening with Peach and a blanket"
    assert ru.path.is_file() and ru.path.name == "cat_evening.png"


# -- direct requests without a subject -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["как ты выглядишь?", "What do you look like?", "пришли селфи", "скинь фотку"]
)
def test_no_subject_request_gets_a_portrait(
    selector: PhotoSelector, library: PersonaLibrary, text: str
) -> None:
    for card in library:
        choice = selector.select(card, text, include_pro=False, direct_request=True)
        assert choice is not None, (card.id, text)
        assert not choice.photo.pro
        assert choice.photo == card.photos(False)[0]  # no portrait tags shipped: the first free photo


@pytest.mark.parametrize("subject", ["how I look", "селфи", "портрет", "me"])
def test_tool_subjects_meaning_herself_get_a_portrait(
    selector: PhotoSelector, library: PersonaLibrary, subject: str
) -> None:
    card = library.get("mark")
    choice = selector.select(card, subject, include_pro=False, direct_request=True)
    assert choice is not None and choice.photo == card.photos(False)[0]


def test_portrait_tag_wins(selector: PhotoSelector, library: PersonaLibrary, tmp_path: Path) -> None:
    card = copy_card(library.get("dora"), tmp_path)
    card.dora.photos[2].tags.append("selfie")
    choice = selector.select(card, "как ты выглядишь", include_pro=False, direct_request=True)
    assert choice is not None and choice.photo.file.endswith("cat_evening.png")
    # the portrait was seen recently: the next free one
    choice = selector.select(
        card, "как ты выглядишь", include_pro=False, exclude=[card.dora.photos[2].file], direct_request=True
    )
    assert choice is not None and choice.photo.file.endswith("morning_coffee.png")


def test_no_subject_request_reads_the_rest_of_the_message(
    selector: PhotoSelector, library: PersonaLibrary
) -> None:
    card = library.get("mark")
    choice = selector.select(
        card, "Что там у тебя на гитаре? Пришли фото!", include_pro=False, direct_request=True
    )
    assert choice is not None and stem(choice.photo.file) == "guitar"
    # the agent passes the subject alone when there is one
    choice = selector.select(card, "гитара", include_pro=False, direct_request=True)
    assert choice is not None and stem(choice.photo.file) == "guitar"


# -- exclude, PRO, thresholds ---------------------------------------------------------------------------


def test_exclude_never_repeats(selector: PhotoSelector, library: PersonaLibrary) -> None:
    dora = library.get("dora")
    first = selector.select(dora, "только что сварила кофе", include_pro=False)
    assert first is not None and stem(first.photo.file) == "morning_coffee"
    # the only fitting photo was seen: nothing, rather than a poor fit
    assert (
        selector.select(dora, "только что сварила кофе", include_pro=False, exclude=[first.photo.file])
        is None
    )
    assert (
        selector.select(
            dora, "пришли фото кофе", include_pro=False, exclude={first.photo.file}, direct_request=True
        )
        is None
    )
    # all seen: even "как ты выглядишь" gets nothing
    seen = [p.file for p in dora.dora.photos]
    assert (
        selector.select(dora, "как ты выглядишь", include_pro=True, exclude=seen, direct_request=True) is None
    )


def test_pro_photos_only_with_pro(selector: PhotoSelector, library: PersonaLibrary) -> None:
    kylie = library.get("kylie")
    assert selector.select(kylie, "пришли фото с пляжа", include_pro=False, direct_request=True) is None
    choice = selector.select(kylie, "пришли фото с пляжа", include_pro=True, direct_request=True)
    assert choice is not None and choice.photo.pro and stem(choice.photo.file) == "beach"
    for text in ("как ты выглядишь", "а есть фото с озера в горах?", "мечтаю оказаться на море"):
        choice = selector.select(kylie, text, include_pro=False, direct_request=True)
        assert choice is None or not choice.photo.pro


def test_min_score_setting_overrides(cached: RecentQueries, library: PersonaLibrary) -> None:
    strict = PhotoSelector(cached, min_score=1.5)
    assert strict.direct_min_score == pytest.approx(1.5 - (DEFAULT_MIN_SCORE - DEFAULT_DIRECT_MIN_SCORE))
    assert strict.select(library.get("dora"), "только что сварила кофе", include_pro=False) is None
    assert (
        strict.select(library.get("dora"), "пришли фото кофе", include_pro=False, direct_request=True) is None
    )
    loose = PhotoSelector(cached, min_score=0.0)
    assert loose.select(library.get("dora"), "what's the capital of France", include_pro=False) is not None


def test_empty_moment_and_empty_library(selector: PhotoSelector, library: PersonaLibrary) -> None:
    dora = library.get("dora")
    assert selector.select(dora, "", include_pro=True) is None
    assert selector.select(dora, "   ", include_pro=True) is None
    empty = dora.model_copy(deep=True)
    empty.dora.photos = []
    empty = empty.with_base_dir(dora.base_dir)
    assert selector.select(empty, "пришли фото кофе", include_pro=True, direct_request=True) is None
    assert selector.select(empty, "как ты выглядишь", include_pro=True, direct_request=True) is None
    assert selector.select(empty, "только что сварила кофе", include_pro=True) is None


# -- the cache --------------------------------------------------------------------------------------------


def test_index_is_cached_and_rebuilt_when_photos_change(
    cached: RecentQueries, library: PersonaLibrary, tmp_path: Path
) -> None:
    selector = PhotoSelector(cached)
    card = copy_card(library.get("dora"), tmp_path)
    assert selector.select(card, "пришли фото с пляжа", include_pro=True, direct_request=True) is None
    selector.select(card, "только что сварила кофе", include_pro=True)
    assert selector.builds == 1

    # a new photo (same card id): the index is rebuilt and the photo can be picked
    Image.new("RGB", (64, 64), (200, 180, 90)).save(tmp_path / "photos" / "dora" / "beach.png")
    changed = card.model_copy(deep=True).with_base_dir(tmp_path)
    changed.dora.photos.append(
        Photo(
            file="photos/dora/beach.png",
            caption={"ru": "На пляже", "en": "At the beach"},
            tags=["beach", "sea"],
        )
    )
    choice = selector.select(changed, "пришли фото с пляжа", include_pro=True, direct_request=True)
    assert choice is not None and choice.photo.file == "photos/dora/beach.png"
    assert selector.builds == 2

    # a changed caption or tag counts too; the same entries again do not
    retagged = changed.model_copy(deep=True).with_base_dir(tmp_path)
    retagged.dora.photos[-1].tags = ["sea"]
    selector.select(retagged, "пришли фото с пляжа", include_pro=True, direct_request=True)
    assert selector.builds == 3
    selector.select(retagged.model_copy(deep=True).with_base_dir(tmp_path), "кофе", include_pro=True)
    assert selector.builds == 3


# -- bad photo files ----------------------------------------------------------------------------------


def test_missing_or_corrupt_photo_is_skipped(
    cached: RecentQueries, library: PersonaLibrary, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    card = copy_card(library.get("dora"), tmp_path)
    (tmp_path / "photos" / "dora" / "morning_coffee.png").write_bytes(b"not a png at all")
    (tmp_path / "photos" / "dora" / "cat_evening.png").unlink()
    png = (tmp_path / "photos" / "dora" / "park_walk.png").read_bytes()
    (tmp_path / "photos" / "dora" / "park_walk.png").write_bytes(png[: len(png) // 3])  # truncated
    selector = PhotoSelector(cached)
    with caplog.at_level(logging.WARNING, logger="tools.photos"):
        assert selector.select(card, "только что сварила кофе", include_pro=True) is None
        assert selector.select(card, "покажи своего кота", include_pro=True, direct_request=True) is None
        assert selector.select(card, "скинь фото из парка", include_pro=True, direct_request=True) is None
        looks = selector.select(card, "как ты выглядишь", include_pro=True, direct_request=True)
    assert looks is not None and looks.photo.file.endswith("sketchbook.png")
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "morning_coffee.png" in warned and "cat_evening.png" in warned and "park_walk.png" in warned
    assert selector.builds == 1  # verified once per build, not per select

    for photo in card.dora.photos:  # nothing readable at all
        (tmp_path / photo.file).write_bytes(b"")
    broken = card.model_copy(deep=True).with_base_dir(tmp_path)
    broken.dora.photos[0].caption = "changed, so the index is rebuilt"
    assert selector.select(broken, "как ты выглядишь", include_pro=True, direct_request=True) is None


def test_card_without_folder_has_no_photos(selector: PhotoSelector, library: PersonaLibrary) -> None:
    loose = PersonaCard.from_dict(library.get("dora").to_dict())  # built in memory: no base_dir
    assert selector.select(loose, "пришли фото кофе", include_pro=True, direct_request=True) is None


# -- sending --------------------------------------------------------------------------------------------


def test_huge_image_is_resized_under_telegram_limits(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, size=(2600, 4000, 3), dtype=np.uint8)  # noise: JPEG can't cheat
    path = tmp_path / "huge.png"
    Image.fromarray(noise).save(path, compress_level=0)
    assert path.stat().st_size > TELEGRAM_MAX_BYTES
    data = prepare_for_telegram(path)
    assert len(data) < TELEGRAM_MAX_BYTES
    with Image.open(io.BytesIO(data)) as out:
        assert out.format == "JPEG" and max(out.size) == 1280 and out.size == (1280, 832)


def test_prepare_keeps_small_images_and_flattens_transparency(
    library: PersonaLibrary, tmp_path: Path
) -> None:
    card = library.get("dora")
    data = prepare_for_telegram(str(card.photo_path(card.dora.photos[0])))
    with Image.open(io.BytesIO(data)) as out:
        assert out.format == "JPEG" and out.size == (512, 512)
    clear = tmp_path / "clear.png"
    Image.new("RGBA", (40, 20), (255, 0, 0, 0)).save(clear)
    with Image.open(io.BytesIO(prepare_for_telegram(clear))) as out:
        assert out.mode == "RGB" and out.getpixel((5, 5)) == (255, 255, 255)
    strip = tmp_path / "strip.png"
    Image.new("RGB", (4000, 50), (0, 0, 0)).save(strip)
    with Image.open(io.BytesIO(prepare_for_telegram(strip))) as out:
        assert out.width == 1280 and out.width <= 20 * out.height
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    with pytest.raises(OSError):
        prepare_for_telegram(bad)


# -- request parsing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "subject", "looks"),
    [
        ("пришли фото с пляжа", "пляж", False),
        ("Скинь фотку моря", "море", False),
        ("покажи фотографию, где ты на пляже", "пляж", False),
        ("отправь снимок из студии", "студия", False),
        ("можешь прислать фото своего кота?", "кот", False),
        ("фото из гримёрки?", "гримерка", False),
        ("есть фотка кота?", "кот", False),
        ("хочу фото с моря", "море", False),
        ("скинь пляжную фотку", "пляжный", False),
        ("покажи своего кота", "кот", False),
        ("пришли фото пожалуйста", None, False),
        ("Пришли фото с кофе ещё раз", "кофе", False),
        ("Ты не могла бы прислать фото?", None, False),
        ("как ты выглядишь?", None, True),
        ("А как ты вообще выглядишь", None, True),
        ("сделай селфи", None, True),
        ("send me a pic from the beach", "beach", False),
        ("Show me a photo of your cat", "cat", False),
        ("send me a beach pic", "beach", False),
        ("can I see a pic of your guitar?", "guitar", False),
        ("got any pics from the trip?", "trip", False),
        ("send me a photo of yourself at the beach", "beach", False),
        ("What do you look like?", None, True),
        ("send me a selfie", None, True),
    ],
)
def test_wants_photo_finds_requests_and_subjects(text: str, subject: str | None, looks: bool) -> None:
    request = wants_photo(text, "ru")
    assert request is not None, text
    assert request.subject == subject
    assert request.looks is looks


def test_wants_photo_keeps_the_rest_of_the_message() -> None:
    request = wants_photo("Что готовишь? Пришли фото!")
    assert request is not None and request.subject is None and request.context == "Что готовишь?"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "как дела?",
        "я скинула фото маме",
        "у меня есть фото с моря",
        "я вчера посмотрел фото с отпуска",
        "фото получилось классное",
        "хочу выложить фото в инсту",
        "ты любишь фотографировать?",
        "сделала сегодня классный снимок",
        "не присылай больше фото",
        "покажи, как решить задачу",
        "пошли гулять",
        "I took a photo of the sunset",
        "I'll send you a pic later",
        "don't send me pics",
    ],
)
def test_wants_photo_ignores_talk_about_photos(text: str) -> None:
    assert wants_photo(text, "ru") is None


@pytest.mark.parametrize(
    "text",
    [
        "пришли голое фото",
        "скинь фото без одежды",
        "скинь нюдсы",
        "покажи сиськи",
        "пришли 18+ фото",
        "пришли фото в нижнем белье",
        "send nudes",
        "send me a naked pic",
        "show me a nude photo",
    ],
)
def test_explicit_requests_are_requests_and_explicit(text: str) -> None:
    assert wants_photo(text, "ru") is not None
    assert _refused(text) == "explicit"


@pytest.mark.parametrize(
    "text", ["пришли фото с пляжа", "как ты выглядишь?", "send me a pic of your cat", "пошли мне фото кофе"]
)
def test_ordinary_requests_are_not_explicit_or_real(text: str) -> None:
    assert _refused(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "пришли фото Тейлор Свифт",
        "скинь фото настоящей Анджелины Джоли",
        "покажи настоящее фото",
        "пришли фото моей бывшей",
        "пришли фото какой-нибудь актрисы",
        "как выглядит Илон Маск? пришли фото",
        "send me a real photo of Taylor Swift",
        "send me a pic of Ryan Gosling",
        "show me a photo of a celebrity",
        "send me a photo of my girlfriend",
    ],
)
def test_real_person_requests(text: str) -> None:
    assert wants_photo(text, "ru") is not None
    assert _refused(text) == "real_person"


def test_real_person_spares_places_pets_and_the_persona() -> None:
    assert _refused("пришли фото Москвы") is None
    assert _refused("покажи фото Персика") is None
    assert _refused("пришли фото Лины Веги") == "real_person"
    assert _refused("пришли фото Лины Веги", persona="Лина Вега") is None
    assert _refused("пришли фото Тейлор Свифт", persona="Лина Вега") == "real_person"


def test_photos_and_generated_images_share_one_policy() -> None:
    """A request the generator refuses is refused for a library photo too (one policy module)."""
    assert _refused("пришли фото из детства") == "minor"
    assert _refused("пришли фото в сексуальном белье") == "explicit"
    assert _refused("send me a selfie with Brad Pitt") == "real_person"


def _refused(text: str, persona: str | None = None) -> str | None:
    refusal = check_image_request(text, allowed_names=(persona,) if persona else ())
    return refusal.reason if refusal else None


# -- benchmark ------------------------------------------------------------------------------------------


def test_selector_bench_reports_latency(embeddings: E5Embeddings, library: PersonaLibrary) -> None:
    result = selector_bench(embeddings, library, n=8)
    assert result["selections"] == 8
    assert 0 < result["p50_ms"] <= result["p95_ms"]
    assert result["personas"] == len(library)

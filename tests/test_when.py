"""Date words in messages, resolved against the message's own time (memory/when.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from memory.when import resolve, spans, valid_at

MSK = timezone(timedelta(hours=3))
FRIDAY_20_MARCH = datetime(2026, 3, 20, 23, 55, tzinfo=MSK)


def _day(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, tzinfo=MSK)


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("в мае переезжаю к сестре", _day(2026, 5, 1), _day(2026, 6, 1)),  # said in March: this May
        ("на прошлой неделе уволился из самоката", _day(2026, 3, 9), _day(2026, 3, 16)),
        ("вчера был мой др", _day(2026, 3, 19), _day(2026, 3, 20)),
        ("next Friday I fly to Berlin", _day(2026, 3, 27), _day(2026, 3, 28)),
        ("в феврале ездила к маме", _day(2026, 2, 1), _day(2026, 3, 1)),  # past tense: the February before
        ("в субботу идём в кино", _day(2026, 3, 21), _day(2026, 3, 22)),
        ("в следующую субботу крестины", _day(2026, 3, 28), _day(2026, 3, 29)),
        ("в конце мая едем в прагу", _day(2026, 5, 21), _day(2026, 6, 1)),
        ("свадьба в сентябре, 12го", _day(2026, 9, 12), _day(2026, 9, 13)),
        ("переезд на 9 мая назначили", _day(2026, 5, 9), _day(2026, 5, 10)),  # a past verb, a date ahead
        ("пару недель назад сдала на права", _day(2026, 3, 2), _day(2026, 3, 9)),
        ("этим летом едем на море", _day(2026, 6, 1), _day(2026, 9, 1)),
        ("I moved last week", _day(2026, 3, 9), _day(2026, 3, 16)),
    ],
)
def test_date_words_become_spans(text: str, start: datetime, end: datetime) -> None:
    span = resolve(text, FRIDAY_20_MARCH)
    assert span is not None, text
    assert (span.start, span.end) == (start, end)
    assert span.start in span and span.end not in span


def test_nearest_day_of_month() -> None:
    said = datetime(2026, 4, 28, 20, 30, tzinfo=MSK)
    assert resolve("записался к ортопеду на 6е", said).start == _day(2026, 5, 6)
    assert resolve("мы в белграде! прилетели 12го", said).start == _day(2026, 4, 12)


@pytest.mark.parametrize(
    "text",
    ["ничего особенного, просто устала", "мне 20 лет", "гоняю 9е классы по геометрии", "в 3 классе", "2/2"],
)
def test_no_date_no_span(text: str) -> None:
    assert spans(text, FRIDAY_20_MARCH) == []
    assert valid_at(text, FRIDAY_20_MARCH) == FRIDAY_20_MARCH  # holds from when it was said


def test_valid_at_is_the_start_of_the_named_time() -> None:
    assert valid_at("в мае переезжаю", FRIDAY_20_MARCH) == _day(2026, 5, 1)
    assert valid_at("вчера уволилась", FRIDAY_20_MARCH) == _day(2026, 3, 19)

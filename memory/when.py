"""When a message says a thing holds: the date words in it, resolved against the message's own time.

«в мае переезжаем», said on 20 March, is about May, not March; «на прошлой неделе уволился» is
about the week before the message; "next Friday" is a day. :func:`resolve` finds such a phrase
and turns it into a :class:`Span` (a day, a week, a month, part of a month, a season, a year).
The anchor date comes from ``dateparser``; what is ours is finding the phrase in free text (its
``search_dates`` misses «в мае», «на прошлой неделе» and reads «мне 20 лет» as a date), the
Russian case forms it does not parse, the span's length, «в следующую субботу», a bare «6е», and
which way an ambiguous month or weekday points: the tense of the clause («в феврале ездила»
looks back, «в субботу идём» ahead), else the nearer one.

Memories keep ``valid_at`` = the span's start (the message time when it names none); questions
get a span to look in («что я делала в феврале», «что было на прошлой неделе»).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import dateparser

from memory.lexical import analyzers

_MONTHS_RU = (
    "январ",
    "феврал",
    "март",
    "апрел",
    "ма",
    "июн",
    "июл",
    "август",
    "сентябр",
    "октябр",
    "ноябр",
    "декабр",
)
_GENITIVE_RU = (
    "января",
    "февраля",
    "марта",
    "апреля",
    "мая",
    "июня",
    "июля",
    "августа",
    "сентября",
    "октября",
    "ноября",
    "декабря",
)
_MONTHS_EN = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_MONTH_RU = (
    r"(январ[ьяею]|феврал[ьяею]|март[аеу]?|апрел[ьяею]|ма[йяею]|июн[ьяею]|июл[ьяею]|август[аеу]?"
    r"|сентябр[ьяею]|октябр[ьяею]|ноябр[ьяею]|декабр[ьяею])"
)
# "may" alone is a verb: an English month needs a preposition or a day number before it
_MONTH_EN = r"(january|february|march|april|may|june|july|august|september|october|november|december)"
_WEEKDAY = (
    r"(понедельник|вторник|среду|среда|четверг|пятницу|пятница|субботу|суббота|воскресенье"
    r"|monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
)
_WEEKDAY_QUALIFIER = r"(прошлую|прошлый|эту|этот|следующую|следующий|last|next|this)"
_NOT_A_DAY = r"(?!\s*(?:класс|курс|этаж|лет|год|место|раз))"
_SEASONS = {"зим": (12, 3), "весн": (3, 3), "лет": (6, 3), "осен": (9, 3)}
_NUM = r"(\d{1,2}|одн\w*|один|две|два|три|пару|пар\w*|несколько)"

_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("day_month", re.compile(rf"\b(\d{{1,2}})(?:-?(?:го|е|ое|ого))?\s+{_MONTH_RU}\b")),
    ("month_day", re.compile(rf"\b{_MONTH_RU},?\s+(\d{{1,2}})-?(?:го|е|ое)\b")),
    ("day_month_en", re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH_EN}\b")),
    ("month_day_en", re.compile(rf"\b{_MONTH_EN}\s+(\d{{1,2}})(?:st|nd|rd|th)?\b")),
    ("part_month", re.compile(rf"\b(начал[еау]|середин[еуы]|конц[еау]|early|late|mid)\s+{_MONTH_RU}\b")),
    ("month", re.compile(rf"\b(?:в|во|с|до|к|на|к\s+концу)?\s*{_MONTH_RU}\b")),
    ("month_en", re.compile(rf"\b(?:in|by|since|until|till|this|next|last)\s+{_MONTH_EN}\b")),
    ("rel_week", re.compile(r"\b(?:на\s+)?(позапрошлой|прошлой|этой|следующей)\s+неделе\b")),
    ("rel_week_en", re.compile(r"\b(last|this|next)\s+week\b")),
    ("rel_month", re.compile(r"\bв\s+(прошлом|этом|следующем)\s+месяце\b")),
    ("rel_month_en", re.compile(r"\b(last|this|next)\s+month\b")),
    ("rel_year", re.compile(r"\bв\s+(прошлом|этом|следующем)\s+году\b")),
    ("rel_year_en", re.compile(r"\b(last|this|next)\s+year\b")),
    ("ago", re.compile(rf"\b{_NUM}?\s*(дн\w*|день|недел\w*|месяц\w*|год\w*|лет)\s+назад\b")),
    ("ago_en", re.compile(r"\b(\d+|a|one|two|three)\s+(days?|weeks?|months?|years?)\s+ago\b")),
    ("in_n", re.compile(rf"\bчерез\s+{_NUM}?\s*(дн\w*|день|недел\w*|месяц\w*|год\w*|лет)\b")),
    ("in_n_en", re.compile(r"\bin\s+(\d+|a|one|two|three)\s+(days?|weeks?|months?|years?)\b")),
    ("day_word", re.compile(r"\b(позавчера|вчера|сегодня|завтра|послезавтра|yesterday|today|tomorrow)\b")),
    ("weekday", re.compile(rf"\b(?:(?:в|во|на|on)\s+)?{_WEEKDAY_QUALIFIER}?\s*{_WEEKDAY}\b")),
    (
        "weekend",
        re.compile(
            r"\b(?:на|в)\s+(прошлых\s+|этих\s+|следующих\s+)?выходны[ех]\b|\b(?:this|next|last)?\s*weekend\b"
        ),
    ),
    ("season", re.compile(r"\b(прошл\w+|эт\w+|следующ\w+)?\s*(зимой|весной|летом|осенью)\b")),
    # «на 6е», «12го», «12 числа»; not «9е классы», «2й курс»
    ("day", re.compile(rf"\b(?:на|к|до|с)?\s*(\d{{1,2}})-?(?:го|е|ое)\b{_NOT_A_DAY}|\b(\d{{1,2}})\s+числа")),
]

_UNITS = {"д": "дня", "н": "недели", "м": "месяца", "г": "года", "л": "года"}


@dataclass(frozen=True)
class Span:
    """A stretch of time a phrase names: ``start`` inclusive, ``end`` exclusive, both aware."""

    start: datetime
    end: datetime
    phrase: str

    def __contains__(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


def _direction(text: str, pos: int) -> str:
    """ "past", "future" or "" (no verb to tell) for the clause around ``pos``."""
    left = max(text.rfind(c, 0, pos) for c in ".,!?;\n")
    ends = [i for i in (text.find(c, pos) for c in ".,!?;\n") if i >= 0]
    clause = text[left + 1 : min(ends) if ends else len(text)]
    past = later = False
    for word in re.findall(r"[а-яё]+", clause):
        word_past, word_later = _verb_tense(word)
        past |= word_past
        later |= word_later
    if re.search(r"\b(will|going to|next|gonna)\b", clause):
        later = True
    if re.search(r"\b(was|were|did|went|had|last|ago)\b", clause) or re.search(r"\b\w+ed\b", clause):
        past = True
    if past and not later:
        return "past"
    return "future" if later else ""


@lru_cache(maxsize=20_000)
def _verb_tense(word: str) -> tuple[bool, bool]:
    """Whether a Russian word form is a verb in the past, and one in the present or future. Cached:
    pymorphy's lookup is pure Python, and the clause around every date phrase in every message is
    read word by word, the same few thousand everyday forms again and again."""
    morph, _ = analyzers()
    tag = morph.parse(word)[0].tag
    if tag.POS != "VERB":
        return False, False
    return "past" in tag, "pres" in tag or "futr" in tag


def warm_up() -> None:
    """Read a date phrase in each language once, so dateparser loads its locales and compiles its
    tables now (about 0.14 s of CPU on a 2-core EPYC) rather than in the first user's turn that
    names a date. Its tables are shared by every later call, whatever the message's time."""
    at = datetime(2026, 1, 15, 12, tzinfo=UTC)
    for text in ("вчера я ходил в кино", "next friday I will go"):
        resolve(text, at)


@lru_cache(maxsize=4096)
def _parse(phrase: str, base: datetime, prefer: str) -> datetime | None:
    """dateparser's reading of a phrase, relative to ``base`` (naive local time of the message)."""
    return dateparser.parse(
        phrase,
        languages=["ru", "en"],
        settings={"RELATIVE_BASE": base, "PREFER_DATES_FROM": prefer, "RETURN_AS_TIMEZONE_AWARE": False},
    )


def _month_index(word: str) -> int:
    word = word.lower()
    if word in _MONTHS_EN:
        return _MONTHS_EN.index(word)
    for i, stem in enumerate(_MONTHS_RU):
        if word.startswith(stem) and (i != 4 or len(word) == 3):
            return i
    raise ValueError(word)


def _add_months(dt: datetime, n: int) -> datetime:
    y, m = divmod(dt.month - 1 + n, 12)
    return dt.replace(year=dt.year + y, month=m + 1, day=1)


def _pick_year(base: datetime, month: int, direction: str, day: int = 1) -> datetime:
    """The ``month`` (1-based) nearest to ``base`` in the clause's direction."""
    base = _day(base)
    this = base.replace(month=month, day=1)
    before = this if this <= base.replace(day=1) else _add_months(this, -12)
    after = this if this >= base.replace(day=1) else _add_months(this, 12)
    if direction == "past":
        chosen = before
    elif direction == "future":
        chosen = after
    else:
        chosen = min((after, before), key=lambda d: abs((d - base.replace(day=1)).days))
    return chosen.replace(day=min(day, 28)) if day > 28 else chosen.replace(day=day)


def _day(dt: datetime) -> datetime:
    return dt.replace(hour=0, minute=0, second=0, microsecond=0)


def _span_of(kind: str, m: re.Match[str], text: str, base: datetime) -> tuple[datetime, datetime] | None:
    g = [x for x in m.groups()]
    direction = _direction(text, m.start())
    prefer = "past" if direction == "past" else "future"
    if kind in ("day_month", "month_day", "day_month_en", "month_day_en"):
        day, month = (g[0], g[1]) if kind.startswith("day") else (g[1], g[0])
        gen = _MONTHS_EN[_month_index(month)] if kind.endswith("en") else _GENITIVE_RU[_month_index(month)]
        anchor = _parse(f"{int(day)} {gen}", base, "future")
        if anchor is None:
            return None
        options = [_day(anchor), _day(anchor).replace(year=anchor.year - 1)]
        start = _nearest(options, base, _day_direction(text, m, direction))
        return start, start + timedelta(days=1)
    if kind in ("month", "month_en", "part_month"):
        start = _pick_year(base, _month_index(g[-1]) + 1, direction)
        end = _add_months(start, 1)
        if kind == "part_month":  # the beginning: days 1–10, the middle: 11–20, the end: 21 on
            part = g[0]
            at = 0 if part.startswith(("начал", "early")) else 2 if part.startswith(("конц", "late")) else 1
            return start + timedelta(days=10 * at), end if at == 2 else start + timedelta(days=10 * (at + 1))
        return start, end
    if kind.startswith(("rel_week", "rel_month", "rel_year")):
        word = g[0]
        phrase = {"позапрошлой": "2 недели назад", "прошлой": "неделю назад", "этой": "сегодня"}.get(word)
        unit = "week" if "week" in kind else "month" if "month" in kind else "year"
        if phrase is None:
            sign = -1 if word in ("прошлом", "last") else 1 if word in ("следующем", "next") else 0
            ru_unit = {"week": "неделю", "month": "месяц", "year": "год"}[unit]
            phrase = "сегодня" if sign == 0 else (f"1 {ru_unit} назад" if sign < 0 else f"через 1 {ru_unit}")
        anchor = _parse(phrase, base, prefer)
        if anchor is None:
            return None
        return _unit_span(anchor, unit)
    if kind in ("ago", "in_n", "ago_en", "in_n_en"):
        anchor = _parse(m.group(0), base, prefer)
        if anchor is None and kind in ("ago", "in_n"):  # «пару недель назад», «через неделю»: a number first
            n = g[0] if g[0] and g[0][0].isdigit() else "2" if g[0] and g[0].startswith("пар") else "1"
            unit = _UNITS.get(g[1][0], "дня")
            anchor = _parse(f"{n} {unit} назад" if kind == "ago" else f"через {n} {unit}", base, prefer)
        if anchor is None:
            return None
        unit_word = g[-1]
        unit = "day" if unit_word[0] in "дd" else "week" if unit_word[0] in "нw" else "month"
        if unit_word[0] in "глy":
            unit = "year"
        return _unit_span(anchor, unit)
    if kind == "day_word":
        anchor = _parse(g[0], base, prefer)
        return None if anchor is None else (_day(anchor), _day(anchor) + timedelta(days=1))
    if kind == "weekday":
        qualifier, weekday = g[0] or "", g[1]
        if qualifier in ("прошлую", "прошлый", "last"):
            prefer = "past"
        anchor = _parse(weekday, base, prefer)
        if anchor is None:
            return None
        if qualifier in ("следующую", "следующий", "next") and _same_week(anchor, base):
            anchor += timedelta(days=7)
        return _day(anchor), _day(anchor) + timedelta(days=1)
    if kind == "weekend":
        said = m.group(0)
        saturday = _parse("суббота", base, "past" if "прошл" in said or "last" in said else "future")
        if saturday is None:
            return None
        if ("следующ" in said or "next" in said) and _same_week(saturday, base):
            saturday += timedelta(days=7)
        return _day(saturday), _day(saturday) + timedelta(days=2)
    if kind == "season":
        first, months = next(v for k, v in _SEASONS.items() if g[1].startswith(k))
        start = _pick_year(base, first, "past" if (g[0] or "").startswith("прошл") else direction)
        if (g[0] or "").startswith("эт"):
            start = _pick_year(base, first, "")
        return start, _add_months(start, months)
    if kind == "day":
        day = int(g[0] or g[1])
        if not 1 <= day <= 31:
            return None
        this = _pick_year(base, base.month, "", day)
        options = [this, *(_add_months(this, n).replace(day=min(day, 28)) for n in (-1, 1))]
        start = _nearest(options, base, _day_direction(text, m, direction))
        return start, start + timedelta(days=1)
    return None


def _day_direction(text: str, m: re.Match[str], direction: str) -> str:
    """A day «на» something is a day booked ahead, whatever the verb: «записался к ортопеду на 6е»,
    «переезд на 9 мая назначили»; otherwise the clause's tense («прилетели 12го» looks back)."""
    before = text[max(0, m.start() - 3) : m.start()]
    return "future" if m.group(0).startswith("на ") or before.endswith("на ") else direction


def _nearest(options: list[datetime], base: datetime, direction: str) -> datetime:
    """The option nearest to ``base``: on or after its day for "future", on or before for "past"."""
    today = _day(base)
    if direction == "future":
        options = [d for d in options if d >= today] or options
    elif direction == "past":
        options = [d for d in options if d <= today] or options
    return min(options, key=lambda d: abs((d - today).days))


def _same_week(a: datetime, b: datetime) -> bool:
    return a.isocalendar()[:2] == b.isocalendar()[:2]


def _unit_span(anchor: datetime, unit: str) -> tuple[datetime, datetime]:
    day = _day(anchor)
    if unit == "day":
        return day, day + timedelta(days=1)
    if unit == "week":
        monday = day - timedelta(days=day.weekday())
        return monday, monday + timedelta(days=7)
    if unit == "month":
        start = day.replace(day=1)
        return start, _add_months(start, 1)
    start = day.replace(month=1, day=1)
    return start, start.replace(year=start.year + 1)


def spans(text: str, at: datetime) -> list[Span]:
    """Every date phrase in ``text`` as a span, in reading order; ``at`` is when it was said (aware)."""
    lowered = text.lower().replace("ё", "е")
    base = at.replace(tzinfo=None, microsecond=0)  # dateparser works in the message's local time
    taken: list[tuple[int, int]] = []
    found: list[tuple[int, Span]] = []
    for kind, pattern in _PATTERNS:
        for m in pattern.finditer(lowered):
            if not m.group(0).strip() or any(m.start() < e and s < m.end() for s, e in taken):
                continue
            try:
                bounds = _span_of(kind, m, lowered, base)
            except (ValueError, OverflowError):
                bounds = None
            if bounds is None:
                continue
            taken.append((m.start(), m.end()))
            start, end = (b.replace(tzinfo=at.tzinfo) for b in bounds)
            found.append((m.start(), Span(start, end, m.group(0).strip())))
    return [s for _, s in sorted(found, key=lambda x: x[0])]


def resolve(text: str, at: datetime) -> Span | None:
    """The first date phrase of ``text`` as a span, or None when it names no time."""
    found = spans(text, at)
    return found[0] if found else None


def valid_at(text: str, at: datetime) -> datetime:
    """When what ``text`` says holds from: the start of the time it names, else the moment it was said."""
    span = resolve(text, at)
    return at if span is None else span.start

"""What the user said is coming: «в четверг собеседование», «завтра к врачу», "on Friday I have a
date" — an event with a day, worth asking about once it is over.

The date words are read by :mod:`memory.when` (``dateparser`` under it), against the moment the
message was written *in the user's time zone*: «завтра», written at 23:30 in Moscow, is the day after
the Moscow date, whatever UTC says. What is ours is telling an event from a plain date: a message
whose time is ahead and that names something that happens (an interview, an exam, a doctor, a
date…) in a statement, not a question. How sure it is travels with it: a day named outright is
surer than a week («на следующей неделе экзамен»), which is asked about only after the week.

Not an event: past times («вчера был у врача»), questions («что у тебя завтра?»), times more than
``HORIZON_DAYS`` ahead or vaguer than a week («в мае переезжаю»: asked about months later, out of the
blue, it reads as surveillance, not care).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from memory.lexical import lemmas
from memory.when import Span, spans

HORIZON_DAYS = 60
WEEK = timedelta(days=7)

# lemmas (pymorphy3 normal forms; Snowball stems for English) of things that happen on a day
EVENT_LEMMAS = frozenset(
    """
    собеседование интервью экзамен зачёт зачет сессия контрольный защита диплом олимпиада егэ огэ
    врач доктор стоматолог зубной терапевт гинеколог психолог психотерапевт операция анализ узи мрт
    обследование приём прием больница поликлиника роды
    свидание встреча концерт спектакль выступление презентация доклад конференция защита питч
    поездка полёт полет рейс самолёт самолет переезд свадьба рождение праздник вечеринка
    соревнование матч турнир марафон забег суд заседание переговоры командировка отпуск похороны
    прослушивание кастинг дедлайн релиз запуск экскурсия поход
    interview exam test doctor dentist appoint surgeri date meet concert present talk trip flight
    move wed birthday parti game match race marathon court hear deadlin launch audit audit checkup
    therapi funer vacat holiday confer pitch
    """.split()  # noqa: SIM905 (a word list reads better as words)
)
_QUESTION = re.compile(r"\?\s*$")


@dataclass(frozen=True)
class ComingEvent:
    """An event ahead: the local span it falls in, the phrase that named it, the event's words (to
    recognise it later), and how sure the reading is (0–1)."""

    span: Span
    words: tuple[str, ...]
    sure: float

    @property
    def over_at(self) -> datetime:
        """When it is surely over: the end of its day (of its week, for «на следующей неделе»)."""
        return self.span.end


def coming_event(text: str, said_at: datetime) -> ComingEvent | None:
    """The event ahead that ``text`` names, read at ``said_at`` (aware, in the user's time zone)."""
    for span in spans(text, said_at):
        if span.end <= said_at or span.start > said_at + timedelta(days=HORIZON_DAYS):
            continue  # in the past, or too far ahead to follow up on
        if span.end - span.start > WEEK:
            continue  # a month, a season: too vague to ask "how did it go?"
        clause = _clause(text, span.phrase)
        if clause is None or _QUESTION.search(clause):
            continue
        words = tuple(dict.fromkeys(w for w in lemmas(clause) if w in EVENT_LEMMAS))
        if not words:
            continue
        sure = 0.9 if span.end - span.start <= timedelta(days=2) else 0.6
        return ComingEvent(span, words, sure)
    return None


def mentions(text: str, words: tuple[str, ...]) -> bool:
    """Whether ``text`` speaks of the event again (any of its words): the user told how it went."""
    return bool(set(words) & set(lemmas(text)))


def _clause(text: str, phrase: str) -> str | None:
    """The sentence around the date phrase (the event is named near its date, not three lines on)."""
    lowered = text.lower().replace("ё", "е")
    at = lowered.find(phrase.lower())
    if at < 0:
        return None
    left = max(lowered.rfind(c, 0, at) for c in ".!\n;")
    rights = [i for i in (lowered.find(c, at) for c in ".!?\n;") if i >= 0]
    right = min(rights) + 1 if rights else len(text)
    return text[left + 1 : right].strip()

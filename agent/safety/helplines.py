"""Help lines: which numbers a person in crisis is given, and where each number was checked.

Every number here was checked against a published source (cited beside it) on 2026-12-03, from
stored copies of those pages; no number was dialled. Operators outside Russia and the
English-speaking countries listed, or who want their own, replace these with a JSON file
(``DORA_HELPLINES_FILE``, see the README):

    {"ru": [{"number": "112", "name": "Экстренные службы", "for": ["self_harm", "abuse"],
             "ages": "all", "emergency": true, "note": "бесплатно"}], "en": [...]}

``for`` says which crises a line is for, ``ages`` whether it is for adults, minors or all, and
``emergency`` lines come first. A language the file does not name keeps the built-in lines.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Ages = Literal["all", "adult", "minor"]


@dataclass(frozen=True)
class HelpLine:
    number: str
    name: str
    situations: frozenset[str]  # "self_harm", "abuse"
    ages: Ages = "all"
    emergency: bool = False
    note: str = ""

    def line(self) -> str:
        note = f" ({self.note})" if self.note else ""
        return f"• {self.name}: {self.number}{note}"


_BOTH = frozenset({"self_harm", "abuse"})
_SH = frozenset({"self_harm"})
_AB = frozenset({"abuse"})

BUILT_IN: dict[str, tuple[HelpLine, ...]] = {
    "ru": (
        # 112 works with no money on the account and without a SIM card:
        # https://moyaokruga.ru/bur-gaz/Articles.aspx?articleId=255341 ,
        # https://kazved.ru/news/v-rossii-nachinaet-rabotat-edinyy-nomer-ekstrennyh-sluzhb-112-4734219
        HelpLine(
            "112",
            "Если опасность прямо сейчас — экстренные службы",
            _BOTH,
            emergency=True,
            note="бесплатно, даже без денег на счёте",
        ),
        # The national children's help line (Фонд поддержки детей, находящихся в трудной жизненной
        # ситуации): children, teenagers and their parents; "иные граждане" may call too; free,
        # anonymous; 124 is its short number from mobiles; round the clock in most regions (71 of 85
        # in 2022), not all. Sources: https://mgppu.ru/news/4296 ,
        # https://sosh9-nowch.edu21.cap.ru/news/2023/05/16/17-maya-v-rossii-otmechaetsya-mezhdunarodnij-denj-detskogo-telefona-doveriya/ ,  # noqa: E501
        # https://kch-sch6.narod.ru/news/mezhdunarodnyj_den_detskogo_telefona_doverija/2022-05-17-746 ,
        # https://tambov-news.net/society/2025/01/13/240738-amp.html (124).
        HelpLine(
            "8-800-2000-122",
            "Детский телефон доверия — для детей, подростков и родителей",
            _BOTH,
            ages="minor",
            note="бесплатно и анонимно; с мобильного можно 124",
        ),
        # Moscow psychological help service (МСППН), round the clock: 051 from a landline (free),
        # +7 495 051 from a mobile (the operator's tariff). Sources: http://www.mos.ru/news/item/76999073/ ,
        # https://tass.ru/moskva/10603811
        HelpLine(
            "051",
            "Экстренная психологическая помощь, Москва",
            _BOTH,
            note="круглосуточно; с мобильного +7 495 051",
        ),
        # МЧС России, Центр экстренной психологической помощи, round the clock; an ordinary Moscow
        # number, so the call is paid. Sources: Российская газета, March 2024, quoting the children's
        # ombudsman, in an English rendering:
        # https://eprimefeed.com/latest-news/lvova-belova-published-the-telephone-numbers-of-psychological-assistance-to-the-victims-of-the-terrorist-attack-rossiyskaya-gazeta/492049/
        # and mos.ru's page on emergency suicide-prevention help.
        HelpLine(
            "+7 495 989-50-50",
            "Психологическая помощь МЧС России",
            _SH,
            ages="adult",
            note="круглосуточно, для всей России",
        ),
        # The children's line accepts adults as well ("иные граждане", sources above): the one free
        # nationwide number an adult outside Moscow can call.
        HelpLine("8-800-2000-122", "Телефон доверия (бесплатно, принимает и взрослых)", _SH, ages="adult"),
        # The all-Russia help line for women who suffered violence (центр «АННА»), daily, round the
        # clock: https://newsvo.ru/news/146115 (2022).
        HelpLine(
            "8-800-7000-600",
            "Телефон доверия для женщин, пострадавших от насилия",
            _AB,
            ages="adult",
            note="бесплатно, круглосуточно",
        ),
    ),
    "en": (
        # https://contactlistens.org/get-help/ (911), https://www.centre56.org.uk/domestic-abuse (999),
        # https://lifelineh2h.org.au/get-help/telephone-crisis-support/faqs/ (000)
        HelpLine(
            "911 (US, Canada), 999 (UK), 112 (EU), 000 (Australia)",
            "In danger right now",
            _BOTH,
            emergency=True,
        ),
        # US 988 Suicide & Crisis Lifeline, call or text, 24/7, free:
        # https://www.cdcr.ca.gov/ccjbh/2022/07/19/dial-988-to-access-24-hour-emotional-support-and-resources/ ;  # noqa: E501
        # Canada's 9-8-8 since 30 Nov 2023: https://globalnews.ca/news/9852199/canada-988-mental-health-crisis-hotline/
        HelpLine("988", "Suicide & Crisis Lifeline, US and Canada", _SH, note="call or text, 24/7"),
        # Samaritans, free from landlines and mobiles, 24/7:
        # https://www.samaritans.org/how-we-can-help/contact-samaritan/
        HelpLine("116 123", "Samaritans, UK and Ireland", _SH, note="free, 24/7"),
        # https://en.wikipedia.org/wiki/Lifeline_(crisis_support_service) ,
        # https://lifelineh2h.org.au/get-help/telephone-crisis-support/faqs/ (free from mobiles)
        HelpLine("13 11 14", "Lifeline, Australia", _SH, note="24/7"),
        # https://learning.nspcc.org.uk/services/childline : free, 24 hours, up to the age of 19
        HelpLine("0800 1111", "Childline, UK (under 19)", _BOTH, ages="minor", note="free, 24/7"),
        # https://ovc.ojp.gov/news/grantee-news/national-domestic-violence-hotline-answers-6-million-contacts
        HelpLine(
            "1-800-799-7233",
            "National Domestic Violence Hotline, US",
            _AB,
            note="24/7; or text START to 88788",
        ),
        # https://www.refuge.org.uk/category/news/ : freephone, 24 hours
        HelpLine("0808 2000 247", "National Domestic Abuse Helpline, UK", _AB, note="free, 24/7"),
        # https://findahelpline.com/AU : a directory of free helplines by country
        HelpLine("findahelpline.com", "Other countries", _BOTH),
    ),
}


class HelpLinesFileError(ValueError):
    """The operator's help-lines file can't be used; the message says what is wrong in it."""


@dataclass(frozen=True)
class HelpLines:
    """The lines per language, and the choice of lines for one situation."""

    by_lang: dict[str, tuple[HelpLine, ...]]

    def for_situation(self, situation: str, lang: str, *, minor: bool = False) -> list[HelpLine]:
        """Emergency first, then lines for this crisis and age; minors get their lines before the rest."""
        lines = self.by_lang.get(lang) or self.by_lang.get("ru") or ()
        age_ok = ("all", "minor") if minor else ("all", "adult")
        chosen = [h for h in lines if situation in h.situations and h.ages in age_ok]
        chosen.sort(key=lambda h: (not h.emergency, h.ages != "minor"))
        return chosen

    def text(self, situation: str, lang: str, *, minor: bool = False) -> str:
        return "\n".join(h.line() for h in self.for_situation(situation, lang, minor=minor))

    @classmethod
    def built_in(cls) -> HelpLines:
        return cls(dict(BUILT_IN))

    @classmethod
    def load(cls, path: Path | None) -> HelpLines:
        """The built-in lines, with the languages an operator's file names replaced by its lines."""
        if path is None:
            return cls.built_in()
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise HelpLinesFileError(f"DORA_HELPLINES_FILE: no such file {path}") from exc
        except (OSError, ValueError) as exc:
            raise HelpLinesFileError(f"DORA_HELPLINES_FILE ({path}) is not JSON: {exc}") from exc
        if not isinstance(raw, dict) or not raw:
            raise HelpLinesFileError(f'DORA_HELPLINES_FILE ({path}): expected {{"ru": [...], "en": [...]}}')
        by_lang = dict(BUILT_IN)
        for lang, items in raw.items():
            by_lang[lang] = tuple(_parse(path, lang, i, item) for i, item in enumerate(items or []))
            for situation in ("self_harm", "abuse"):
                if not any(situation in h.situations for h in by_lang[lang]):
                    raise HelpLinesFileError(
                        f"DORA_HELPLINES_FILE ({path}): {lang!r} has no line for {situation!r}"
                    )
        return cls(by_lang)


def _parse(path: Path, lang: str, index: int, item: object) -> HelpLine:
    where = f"DORA_HELPLINES_FILE ({path}): {lang}[{index}]"
    if not isinstance(item, dict):
        raise HelpLinesFileError(f"{where} is not an object")
    number, name = item.get("number"), item.get("name")
    if not isinstance(number, str) or not number.strip() or not isinstance(name, str) or not name.strip():
        raise HelpLinesFileError(f"{where} needs a non-empty 'number' and 'name'")
    situations = frozenset(item.get("for", ["self_harm", "abuse"]))
    if not situations or not situations <= {"self_harm", "abuse"}:
        raise HelpLinesFileError(f"{where}: 'for' takes 'self_harm' and/or 'abuse'")
    ages = item.get("ages", "all")
    if ages not in ("all", "adult", "minor"):
        raise HelpLinesFileError(f"{where}: 'ages' is one of all, adult, minor")
    return HelpLine(
        number.strip(), name.strip(), situations, ages, bool(item.get("emergency")), str(item.get("note", ""))
    )

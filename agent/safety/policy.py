"""From what the classifier saw to what the turn does: a fixed answer, a safety note, a question.

Pure functions over plain dicts (the user's profile is checkpointed as one), so the tiers can be
tested without a model. A user's profile holds what outlives a thread: ``minor`` (once said,
for good, with every persona) and ``risk`` (the last crisis sign, its tier, and whether the help
lines were given and the persona checked back since).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from agent.language import Language
from agent.safety.classifier import Assessment
from agent.safety.helplines import HelpLines
from agent.safety.lexicon import IMMINENT
from agent.safety.replies import (
    CHECK_BACK_AFTER_H,
    RISK_DAYS,
    attention_note,
    check_back_note,
    crisis_reply,
    ideation_addendum,
    injection_reply,
    minor_note,
    safety_note,
)


@dataclass
class TurnSafety:
    """What the rules decided for one turn."""

    canned: str | None = None  # the whole reply, decided here (imminent crisis, injection)
    notes: list[str] = field(default_factory=list)  # prompt sections after the cached prefix
    addendum: str | None = None  # appended to the persona's reply (direct question, help lines)
    profile: dict[str, Any] = field(default_factory=dict)  # the user's profile after this turn
    event: tuple[str, str] | None = None  # (label, tier) of a crisis sign in this message
    minor_now: bool = False  # treat the user as a minor in this turn (kept or only suspected)


MINOR_EXPLICIT = 0.6  # the minors lexicon's weight for a sign that marks the user for good


def _parse(at: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(at) if at else None
    except ValueError:
        return None


def active_risk(profile: dict[str, Any], now: datetime) -> dict[str, Any] | None:
    """The user's crisis, while it is fresh (``RISK_DAYS`` since the last sign)."""
    risk = profile.get("risk")
    at = _parse(risk.get("at")) if risk else None
    if risk is None or at is None or now - at > timedelta(days=RISK_DAYS):
        return None
    return risk


def decide(
    assessment: Assessment,
    profile: dict[str, Any],
    lang: Language,
    lines: HelpLines,
    now: datetime,
) -> TurnSafety:
    """The turn's safety decision; ``profile`` is not changed, the new one is in the result."""
    profile = dict(profile)
    # kept for good only on an explicit sign (an age, a grade, exams): a guess from the meaning
    # model alone (talk that sounds like school) protects this turn but marks nobody for ever
    explicit = assessment.minor and assessment.lexicon.get("minor", 0.0) >= MINOR_EXPLICIT
    minor = bool(profile.get("minor")) or explicit
    profile["minor"] = minor
    out = TurnSafety(profile=profile, minor_now=minor or assessment.minor)
    if out.minor_now:
        out.notes.append(minor_note(lang))
    risk = active_risk(profile, now)
    if crisis := assessment.crisis:
        label, tier = crisis
        out.event = crisis
        again = risk is not None and risk.get("label") == label and bool(risk.get("lines_offered"))
        new_risk = {
            "label": label,
            "tier": IMMINENT if tier == IMMINENT or (risk and risk.get("tier") == IMMINENT) else tier,
            "at": now.isoformat(),
            "lines_offered": bool(risk and risk.get("label") == label and risk.get("lines_offered")),
            "checked_back": False,
        }
        text = lines.text(label, lang, minor=out.minor_now)
        if tier == IMMINENT:
            out.canned = crisis_reply(label, lang, text, again=again)
            new_risk["lines_offered"] = True
        else:
            out.notes.append(safety_note(label, lang))
            if not new_risk["lines_offered"]:
                out.addendum = ideation_addendum(label, lang, text)
                new_risk["lines_offered"] = True
        profile["risk"] = new_risk
        return out
    if assessment.injection:
        out.canned = injection_reply(lang)
        return out
    if risk is None:
        out.notes.extend(attention_note(label, lang) for label in sorted(assessment.concerns))
    if risk is not None:  # no sign in this message, but the crisis is recent: stay careful
        out.notes.append(safety_note(str(risk.get("label", "self_harm")), lang))
        at = _parse(risk.get("at")) or now
        if not risk.get("checked_back") and now - at >= timedelta(hours=CHECK_BACK_AFTER_H):
            out.notes.append(check_back_note(lang, _when(at, now, lang)))
            profile["risk"] = {**risk, "checked_back": True}
    return out


def _when(at: datetime, now: datetime, lang: Language) -> str:
    days = (now.date() - at.date()).days
    if lang == "en":
        return {0: "earlier today", 1: "yesterday"}.get(days, f"{days} days ago")
    return {0: "сегодня", 1: "вчера"}.get(days, f"{days} дня назад")

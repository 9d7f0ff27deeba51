"""The safety classifier: the lexicon and the example bank, each covering what the other misses.

The lexicon (:mod:`agent.safety.lexicon`, :mod:`agent.safety.minors`) knows structure: negation,
whose age a number is, a plan against a wish. The bank (:mod:`agent.safety.bank`) knows meaning:
«хочу заснуть и больше никогда не просыпаться» is near «не хочу жить» whatever its words, and
«умираю со смеху» is near the hard negatives. A label fires when

- the lexicon alone is sure (a weight-1.0 rule), or
- the lexicon hints (weight ≥ 0.6) and the bank leans the same way (margin above ``support``), or
- the bank alone is sure (margin above ``alone``).

The thresholds are frozen here and were chosen by 5-fold cross-validation on the bank (each fold
judged by a bank without it), never on the held-out set; ``dora eval safety`` prints both. The
tier is *imminent* when an imminent rule fired or most of the nearest positive examples are
imminent (a plan, means, a time, something done).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from agent.safety.bank import LABELS, Bank
from agent.safety.injection import is_prompt_injection
from agent.safety.lexicon import ABUSE, IMMINENT, INJECTION, MINOR, SELF_HARM, framed, lexicon_hits
from agent.safety.minors import minor_signs
from agent.safety.text import normalize, words

CRISIS_LABELS = (SELF_HARM, ABUSE)


@dataclass(frozen=True)
class Thresholds:
    """Bank margins (cosine units) above which a label fires: alone, or with a lexicon hint."""

    alone: dict[str, float] = field(
        default_factory=lambda: {SELF_HARM: 0.035, ABUSE: 0.035, MINOR: 0.04, INJECTION: 0.04}
    )
    support: dict[str, float] = field(
        default_factory=lambda: {SELF_HARM: 0.0, ABUSE: 0.0, MINOR: 0.0, INJECTION: 0.0}
    )
    imminent_share: float = 0.5  # of the label's nearest examples, for the bank to call it imminent


@dataclass(frozen=True)
class Assessment:
    """What the rules saw in one message. ``labels`` is empty for an ordinary message."""

    labels: frozenset[str] = frozenset()
    tiers: dict[str, str] = field(default_factory=dict)  # self_harm / abuse → imminent | ideation
    lexicon: dict[str, float] = field(default_factory=dict)
    margins: dict[str, float] = field(default_factory=dict)

    @property
    def crisis(self) -> tuple[str, str] | None:
        """The crisis to answer first, as (label, tier): imminent before ideation, then self-harm."""
        found = [(label, self.tiers.get(label, "ideation")) for label in CRISIS_LABELS if label in self.labels]
        if not found:
            return None
        return sorted(found, key=lambda lt: (lt[1] != IMMINENT, CRISIS_LABELS.index(lt[0])))[0]

    @property
    def minor(self) -> bool:
        return MINOR in self.labels

    @property
    def injection(self) -> bool:
        return INJECTION in self.labels


class SafetyClassifier:
    """``assess(text, vector)``: pure, thread-safe, about a millisecond once warm."""

    def __init__(self, bank: Bank | None, thresholds: Thresholds | None = None) -> None:
        self.bank = bank
        self.thresholds = thresholds or Thresholds()

    def assess(self, text: str, vector: np.ndarray | None = None) -> Assessment:
        norm = normalize(text or "")
        ws = words(norm)
        lex: dict[str, float] = dict.fromkeys(LABELS, 0.0)
        imminent_rule: dict[str, bool] = dict.fromkeys(CRISIS_LABELS, False)
        frame = framed(ws)
        for hit in lexicon_hits(ws):
            weight = hit.rule.weight * (0.5 if frame else 1.0)
            lex[hit.rule.label] = max(lex[hit.rule.label], weight)
            if hit.rule.tier == IMMINENT and weight >= 0.6:
                imminent_rule[hit.rule.label] = True
        lex[MINOR] = minor_signs(norm)
        lex[INJECTION] = 1.0 if is_prompt_injection(norm) else 0.0

        margins: dict[str, float] = {}
        near_imminent: dict[str, float] = {}
        if self.bank is not None and vector is not None and ws:
            margins, near_imminent = self.bank.margins(vector)
        labels = {label for label in LABELS if self._fires(label, lex[label], margins.get(label))}
        tiers = {
            label: IMMINENT
            if imminent_rule[label] or near_imminent.get(label, 0.0) > self.thresholds.imminent_share
            else "ideation"
            for label in CRISIS_LABELS
            if label in labels
        }
        return Assessment(frozenset(labels), tiers, lex, margins)

    def _fires(self, label: str, lexicon: float, margin: float | None) -> bool:
        if lexicon >= 1.0:
            return True
        if margin is None:  # no vector: the lexicon's hints count, erring towards care
            return lexicon >= 0.6
        if lexicon >= 0.6 and margin > self.thresholds.support[label]:
            return True
        return margin > self.thresholds.alone[label]

"""The safety classifier: the lexicon and the example bank, each covering what the other misses.

The lexicon (:mod:`agent.safety.lexicon`, :mod:`agent.safety.minors`) knows structure: negation,
whose age a number is, a plan against a wish, a joke, a film title. The bank
(:mod:`agent.safety.bank`) knows meaning: «хочу заснуть и больше никогда не просыпаться» lies near
«не хочу жить» whatever its words, and «умираю со смеху» near the hard negatives. For each label
their readings are combined by a small logistic model (a "stacker"):

    z = a·logit(regression's probability) + b·30·(neighbour margin) + c·lexicon weight
        + d·[lexicon ≥ 1] + e·[lexicon ≥ 0.6] + bias

and the label fires when sigmoid(z) passes the label's threshold, or when a weight-1.0 lexicon rule
fired (those words are rarely anything else: about 1 % of the hard negatives). The stacker's weights and the
thresholds are frozen below: fitted by ``python -m bench.safety_fit`` on out-of-fold readings of the
bank (each fold read by a bank trained without it), never on the held-out set. Without a vector (no
embedder) the lexicon decides alone, erring towards care: a hint of 0.6 fires.

Below the threshold lies an *attention* band for self-harm and abuse (``concerns``): a message
that may be a veiled sign («сплю по 14 часов, во сне меня хотя бы нет»). It changes no tier and
shows no help lines; the persona is only asked to listen for it. Its threshold allows about 10 %
false positives on the bank's hard negatives, since being asked to listen costs a false alarm
nothing the user can see.

An injection the meaning alone reads (no pattern of :mod:`agent.safety.injection` fired) counts
only when the message speaks to the bot or of other people: «на каком языке я программирую?» and
"write a bio for my dating profile" lie near requests for the instructions, and a deflection there
answers the user's question about their own life with "I don't talk about other users".

The tier is *imminent* when an imminent rule fired or most of the nearest positive examples are
imminent (a plan, means, a time, something done).
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field

import numpy as np

from agent.safety.bank import LABELS, Bank, QueryEmbedder
from agent.safety.injection import addressed, is_prompt_injection
from agent.safety.lexicon import (
    ABUSE,
    IMMINENT,
    INJECTION,
    MINOR,
    SELF_HARM,
    about_someone_else,
    abuse_of_someone_else,
    framed,
    joking,
    lexicon_hits,
    pet_did_it,
    quoted,
    resolved_past,
)
from agent.safety.minors import minor_signs
from agent.safety.text import Word, normalize, words
from agent.safety.translit import to_cyrillic
from memory.text import for_embedding

log = logging.getLogger(__name__)

CRISIS_LABELS = (SELF_HARM, ABUSE)
# A message read sentence by sentence as well (see ``SafetyClassifier._read_passages``) when it has
# at least this many words; a sentence of fewer than PASSAGE_MIN_WORDS joins the next one (sentences
# of four words or more, read alone, raised three false alarms on 455 near-the-line messages where
# eight raised one: «всё прозрачно, каждый может тратить своё» reads as self-harm out of context)
LONG_MESSAGE_WORDS = 20
PASSAGE_MIN_WORDS = 8
# a sentence counts only with some of the label's words in it: by its meaning alone, one sentence
# of a long, cheerful English chat message read as self-harm in 29 of 300 LoCoMo messages ("Never
# give up", "I'm here to support you"); with the words required, 0 of those 300
PASSAGE_LEXICON = 0.3
MAX_PASSAGES = 16  # bounds the second embedder call (the rules read at most 8,000 characters)
_SENTENCE_END = re.compile(r"(?<=[.!?…)])\s+|\n+")


def sentences(norm: str) -> list[str]:
    """A long normalised message cut into sentences of a few words or more (one for a short one)."""
    if len(norm.split()) < LONG_MESSAGE_WORDS:
        return [norm]
    out: list[str] = []
    pending = ""
    for piece in _SENTENCE_END.split(norm):
        pending = f"{pending} {piece}".strip() if pending else piece.strip()
        if len(pending.split()) >= PASSAGE_MIN_WORDS:
            out.append(pending)
            pending = ""
    if pending:
        if out:
            out[-1] = f"{out[-1]} {pending}"
        else:
            out.append(pending)
    if len(out) > MAX_PASSAGES:  # a very long text: neighbouring sentences read together
        size = -(-len(out) // MAX_PASSAGES)
        out = [" ".join(out[i : i + size]) for i in range(0, len(out), size)]
    return out


def _crisis_lexicon(norm: str, ws: list[Word], damped: bool) -> tuple[dict[str, float], dict[str, bool]]:
    """The lexicon's weight per label (self-harm and abuse hedged: a joke, someone else, a quote, a
    pet), and whether an imminent rule fired with weight."""
    lex: dict[str, float] = dict.fromkeys(LABELS, 0.0)
    imminent_rule: dict[str, bool] = dict.fromkeys(CRISIS_LABELS, False)
    for hit in lexicon_hits(ws, norm):
        other = (hit.rule.label == SELF_HARM and about_someone_else(ws, hit)) or (
            hit.rule.label == ABUSE and abuse_of_someone_else(ws, hit)
        )
        hedged = damped or other or quoted(norm, ws, hit) or pet_did_it(ws, hit)
        weight = hit.rule.weight * (0.5 if hedged else 1.0)
        lex[hit.rule.label] = max(lex[hit.rule.label], weight)
        if hit.rule.tier == IMMINENT and weight >= 0.6:
            imminent_rule[hit.rule.label] = True
    return lex, imminent_rule


# (a, b, c, d, e, bias, threshold, attention threshold) per label: see the module docstring;
# fitted by `python -m bench.safety_fit`
STACKER: dict[str, tuple[float, ...]] = {
    SELF_HARM: (0.73, 4.736, 2.725, 0.748, 0.232, -1.474, 0.3939, 0.0844),
    ABUSE: (0.618, 4.51, 0.247, 1.38, 1.273, -1.685, 0.4495, 0.0404),
    MINOR: (0.436, 3.283, 4.875, -0.537, -0.237, -2.325, 0.5744, 0.5744),
    INJECTION: (1.196, 2.711, 1.002, 1.002, 1.002, 0.148, 0.0561, 0.0561),
}


@dataclass(frozen=True)
class Thresholds:
    """The stacker per label, and the share of imminent neighbours that makes a crisis imminent."""

    stacker: dict[str, tuple[float, ...]] = field(default_factory=lambda: dict(STACKER))
    imminent_share: float = 0.5


def stack_features(probability: float, margin: float, lexicon: float) -> np.ndarray:
    """The stacker's inputs for one label (see the module docstring)."""
    p = min(max(probability, 1e-4), 1 - 1e-4)
    return np.array(
        [math.log(p / (1 - p)), 30.0 * margin, lexicon, lexicon >= 1.0, lexicon >= 0.6], dtype=np.float64
    )


@dataclass(frozen=True)
class Assessment:
    """What the rules saw in one message. ``labels`` is empty for an ordinary message."""

    labels: frozenset[str] = frozenset()
    tiers: dict[str, str] = field(default_factory=dict)  # self_harm / abuse → imminent | ideation
    lexicon: dict[str, float] = field(default_factory=dict)
    margins: dict[str, float] = field(default_factory=dict)
    probabilities: dict[str, float] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)  # the stacker's output per label
    concerns: frozenset[str] = frozenset()  # self-harm / abuse in the attention band (not labels)

    @property
    def crisis(self) -> tuple[str, str] | None:
        """The crisis to answer first, as (label, tier): imminent before ideation, then self-harm."""
        found = [
            (label, self.tiers.get(label, "ideation")) for label in CRISIS_LABELS if label in self.labels
        ]
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
    """``assess(text, vector)``: thread-safe, about a millisecond once warm for a short message; the
    agent runs it off the event loop, since a translit or long message embeds once more.

    A message in Russian translit («zhit ne hochetsya») is read in Cyrillic
    (:mod:`agent.safety.translit`); given ``embedder``, its Cyrillic reading is embedded once more
    for the bank, since the turn's vector of the Latin letters is where e5 reads them poorly. Given
    ``embedder``, a long message that shows no crisis as a whole is also read sentence by sentence
    (:meth:`_read_passages`). Those are the only second embeddings; a short message costs none."""

    def __init__(
        self, bank: Bank | None, thresholds: Thresholds | None = None, embedder: QueryEmbedder | None = None
    ) -> None:
        self.bank = bank
        self.thresholds = thresholds or Thresholds()
        self.embedder = embedder

    def assess(self, text: str, vector: np.ndarray | None = None) -> Assessment:
        norm = normalize(text or "")
        if (cyrillic := to_cyrillic(norm)) is not None:
            norm = cyrillic
            if vector is not None and self.embedder is not None:
                vector = self._embedded([for_embedding(cyrillic)], vector[None, :])[0]
        ws = words(norm)
        damped = framed(ws) or joking(norm, ws) or resolved_past(ws)
        lex, imminent_rule = _crisis_lexicon(norm, ws, damped)
        lex[MINOR] = minor_signs(norm)
        lex[INJECTION] = 1.0 if is_prompt_injection(norm) else 0.0

        probs: dict[str, float] = {}
        margins: dict[str, float] = {}
        near_imminent: dict[str, float] = {}
        if self.bank is not None and vector is not None and ws:
            probs, margins, near_imminent = self.bank.read(vector)
        scores = {
            label: self._score(label, lex[label], probs.get(label), margins.get(label)) for label in LABELS
        }
        labels = {label for label in LABELS if self._fires(label, lex[label], scores[label])}
        if not labels & set(CRISIS_LABELS) and self.bank is not None and vector is not None:
            self._read_passages(norm, damped, scores, imminent_rule)
            labels |= {label for label in CRISIS_LABELS if self._fires(label, lex[label], scores[label])}
        if INJECTION in labels and lex[INJECTION] < 1.0 and not addressed(norm):
            labels.discard(INJECTION)  # the meaning alone, and nobody asked: the user's own life
        concerns = {
            label
            for label in CRISIS_LABELS
            if label not in labels
            and scores[label] >= 0
            and scores[label] > self.thresholds.stacker[label][7]
        }
        tiers = {
            label: IMMINENT
            if imminent_rule[label] or near_imminent.get(label, 0.0) > self.thresholds.imminent_share
            else "ideation"
            for label in CRISIS_LABELS
            if label in labels
        }
        return Assessment(frozenset(labels), tiers, lex, margins, probs, scores, frozenset(concerns))

    def _read_passages(
        self,
        norm: str,
        damped: bool,
        scores: dict[str, float],
        imminent_rule: dict[str, bool],
    ) -> None:
        """A long message that shows no crisis as a whole, read sentence by sentence for self-harm
        and abuse, each label keeping its best reading: one sign among a day's news («…а я всё думаю
        что устала жить. у тебя как день?») is a small part of the whole message's vector. One more
        embedder call, for long messages only. Not when the whole already shows a crisis: a
        sentence of an abuse story read alone («губа почти зажила») can look like self-harm, and
        the answer must stay the one the whole message asks for. A sentence counts for a label only
        with some of that label's words (:data:`PASSAGE_LEXICON`)."""
        passages = sentences(norm)
        if len(passages) < 2 or self.bank is None or self.embedder is None:
            return
        vectors = self._embedded(passages, None)
        if vectors is None:
            return
        for text, vector in zip(passages, vectors, strict=True):
            ws = words(text)
            own, rule = _crisis_lexicon(text, ws, damped)
            probs, margins, near = self.bank.read(vector)
            for label in CRISIS_LABELS:
                if own[label] < PASSAGE_LEXICON:
                    continue
                score = self._score(label, own[label], probs[label], margins[label])
                if score > scores[label]:
                    scores[label] = score
                    imminent_rule[label] = (
                        imminent_rule[label]
                        or rule[label]
                        or (near.get(label, 0.0) > self.thresholds.imminent_share)
                    )

    def _embedded(self, texts: list[str], fallback: np.ndarray | None) -> np.ndarray | None:
        """The second embedding, or ``fallback`` when the embedder fails: the message is still read
        with what the turn had (its own vector, the lexicon), never not at all."""
        assert self.embedder is not None
        try:
            return self.embedder.query_vectors(texts)
        except Exception as exc:
            log.warning("safety: a second embedding failed (%s); reading without it", type(exc).__name__)
            return fallback

    def _score(self, label: str, lexicon: float, probability: float | None, margin: float | None) -> float:
        if probability is None or margin is None:
            return -1.0
        *weights, bias, _, _ = self.thresholds.stacker[label]
        z = float(np.dot(weights, stack_features(probability, margin, lexicon))) + bias
        return 1.0 / (1.0 + math.exp(-max(min(z, 30.0), -30.0)))

    def _fires(self, label: str, lexicon: float, score: float) -> bool:
        if lexicon >= 1.0:  # the words alone are enough, whatever the bank says
            return True
        if score < 0:  # no vector: the lexicon alone, erring towards care
            return lexicon >= 0.6
        return score > self.thresholds.stacker[label][6]

"""Rules that hold whatever the persona, the card or the model: crisis care, minors, prompt injection.

They run before any LLM step, on every backend: a classifier (:mod:`.classifier`: a lemma lexicon
and an example bank compared with the turn's e5 vector) says what a message shows, and a policy
(:mod:`.policy`) turns that into a fixed answer with help lines (imminent danger), a safety-aware
turn of the persona (ideation), a deflection (prompt injection), or the minor gate. See the
README's "Safety" section for what this does and does not do, and the figures.
"""

from agent.safety.bank import Bank, Example, load_examples
from agent.safety.classifier import Assessment, SafetyClassifier, Thresholds
from agent.safety.flags import UserFlags, adult_unlocked
from agent.safety.helplines import HelpLines, HelpLinesFileError
from agent.safety.policy import TurnSafety, active_risk, decide

__all__ = [
    "Assessment",
    "Bank",
    "Example",
    "HelpLines",
    "HelpLinesFileError",
    "SafetyClassifier",
    "Thresholds",
    "TurnSafety",
    "UserFlags",
    "active_risk",
    "adult_unlocked",
    "decide",
    "load_examples",
]

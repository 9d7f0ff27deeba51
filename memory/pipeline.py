"""After a turn: extract facts from the user's unprocessed messages and reconcile them, in order.

The work list *is* the store: episodes carry ``extracted=False`` until their facts are settled. A
crash, a timeout or a malformed LLM answer leaves them pending, and the next run picks them up, so
nothing said is lost. Re-running over the same episode is safe: its facts come back as duplicates
and are settled as NOOP by similarity, without the LLM.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from memory.extraction import FactExtractor, says_something_about_the_user
from memory.reconcile import Outcome, Reconciler
from memory.store import MemoryStore

log = logging.getLogger(__name__)


@dataclass
class ProcessReport:
    episodes: int = 0
    outcomes: list[Outcome] = field(default_factory=list)
    failed: bool = False
    error: str | None = None


class MemoryWriter:
    """Runs extraction + reconciliation for one user at a time (callers serialise per user)."""

    def __init__(
        self,
        store: MemoryStore,
        extractor: FactExtractor,
        reconciler: Reconciler,
        batch: int = 4,
        share_facts: bool = False,
    ) -> None:
        """``share_facts``: facts belong to the user, not to the persona they were told to (every
        persona knows them); episodes keep their persona either way."""
        self.store, self.extractor, self.reconciler, self.batch = store, extractor, reconciler, batch
        self.share_facts = share_facts

    def process_pending(self, user_id: str) -> ProcessReport:
        """Settle the user's pending episodes, oldest first, a few messages per LLM call."""
        report = ProcessReport()
        pending = self.store.pending_episodes(user_id)
        for start in range(0, len(pending), self.batch):
            group = pending[start : start + self.batch]
            texts = [m.text for m in group if says_something_about_the_user(m.text)]
            try:
                candidates = self.extractor.extract(texts) if texts else []
                sources = [sid for m in group for sid in (m.source_message_ids or [m.id])]
                persona = None if self.share_facts else group[-1].persona
                for candidate in candidates:
                    report.outcomes.append(self.reconciler.apply(user_id, candidate, sources, persona))
            except Exception as exc:  # the LLM or the store failed: keep the episodes pending
                log.warning(
                    "memory: extraction failed for a batch of %d messages (%s); will retry",
                    len(group),
                    type(exc).__name__,
                )
                report.failed, report.error = True, f"{type(exc).__name__}: {exc}"
                break
            self.store.mark_extracted(user_id, [m.id for m in group])
            report.episodes += len(group)
        self.store.warm(user_id)
        return report

"""A stall timer for in-process generation: the first token, and every next one, within a limit.

An in-process model can't be interrupted inside one evaluation step, so the timer is checked
whenever the model hands back a token: a call fails with :class:`LLMTimeoutError` when the first
token came later than ``timeout_s`` after the call started (waiting for the model's lock
included), or a later token came more than ``timeout_s`` after the one before. That matches the
``openai`` backend, whose HTTP read timeout also bounds each wait, not the whole answer: a reply
that keeps coming is never cut, a stalled one is.
"""

from __future__ import annotations

import time

from agent.llm.errors import LLMTimeoutError

__all__ = ["StallTimer"]


class StallTimer:
    """Started at construction; :meth:`tick` at each token raises once a wait exceeded the limit."""

    def __init__(self, timeout_s: float, what: str) -> None:
        self.timeout_s = timeout_s
        self.what = what
        self.started = self.last = time.monotonic()
        self.ticks = 0

    def remaining(self) -> float:
        """Seconds left before the current wait (for the first token, or the next) runs out."""
        return max(0.0, self.timeout_s - (time.monotonic() - self.last))

    def tick(self) -> None:
        """A token arrived: fail if it came too late, else restart the wait."""
        now = time.monotonic()
        waited = now - self.last
        if waited > self.timeout_s:
            which = "next token" if self.ticks else "first token"
            raise LLMTimeoutError(
                f"{self.what}: no {which} within {self.timeout_s:g} s (waited {waited:.1f} s)"
            )
        self.last = now
        self.ticks += 1

    def expired(self) -> LLMTimeoutError:
        """The error for a wait that ran out without a token at all."""
        which = "next token" if self.ticks else "first token"
        return LLMTimeoutError(f"{self.what}: no {which} within {self.timeout_s:g} s")

"""What the bot knows about the user's rights, and the one rule that reads them: 18+ text."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class UserFlags:
    """Set by the bot from the user's account; the agent enforces them. ``minor``: the user once
    said they are under 18 (to any persona); romance and 18+ are off for good."""

    age_confirmed: bool = False
    adult_opt_in: bool = False
    pro: bool = False
    minor: bool = False


def adult_unlocked(flags: UserFlags, persona_allows_adult: bool, minor_suspected: bool) -> bool:
    """18+ text needs all of: a persona that allows it, a confirmed adult, an opt-in, PRO, and no sign
    that the user is a minor."""
    return (
        persona_allows_adult
        and flags.age_confirmed
        and flags.adult_opt_in
        and flags.pro
        and not flags.minor
        and not minor_suspected
    )

"""The conversation state LangGraph checkpoints per thread (one thread per user and persona).

``messages`` and ``summary`` persist across turns; the rest is the current turn's input and
working data, overwritten each turn. Everything here is encrypted at rest by the checkpointer.
"""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages


class ChatState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    summary: str  # rolling summary of turns that left the verbatim window
    minor_suspected: bool  # the user said they are under 18: never romance or 18+ in this thread
    photos_sent: list[dict[str, Any]]  # photos the persona sent in this thread (file, caption, when)
    unstored: list[dict[str, Any]]  # user messages memory was away for (EpisodeIn as dicts): stored later

    # the current turn
    user_id: str
    persona_id: str
    flags: dict[str, bool]  # UserFlags as a dict (age_confirmed, adult_opt_in, pro)
    extract_facts: bool  # false: the message may be misheard (an unsure voice note): no facts from it
    lang: str
    canned: str | None  # a reply decided by a safety rule, not the model
    profile: dict[str, Any]  # the user's profile (minor, crisis risk), shared by every persona's thread
    safety_notes: list[str]  # prompt sections the safety policy adds this turn (after the cached prefix)
    addendum: str | None  # appended to the reply by the safety policy (a direct question, help lines)
    safety_event: list[str] | None  # [label, tier] of a crisis sign in this message
    minor_now: bool  # a minor in this turn: kept on the profile, or only suspected from this message
    recalled: list[dict[str, Any]]  # memories placed in the prompt (Recalled as dicts)
    lore: list[dict[str, str]]  # lorebook entries that fired this turn: name, why, content
    read: str  # what the reader picked out of the recalled memories for this turn (agent.memory_reader)
    failed: bool  # the backend failed: the user's message stays unanswered until the next turn
    photo: dict[str, Any] | None  # the photo that goes with this turn's reply (PhotoOut as a dict)

"""A conversation thread rewritten without what the user asked to forget.

Memory is not the only place a thing said lives: the thread keeps the last turns verbatim (the
prompt reads them) and a rolling summary of older ones, so deleting the memories alone would let
the next reply bring the cat straight back. A user message whose memory was deleted goes, with the
persona's answer to it (the answer repeats it: «Бублик — чудесное имя!»); other messages and the
summary lose the sentences that still say it (see :class:`memory.forgetting.Forgettable`), and a
message with nothing left goes. Pure: the companion reads the state and writes the result back.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage

from memory.forgetting import Forgettable, split_sentences


def _text(message: AnyMessage) -> str:
    return message.content if isinstance(message.content, str) else str(message.content)


def scrub_messages(
    messages: list[AnyMessage], what: Forgettable, dropped: frozenset[str]
) -> list[AnyMessage]:
    """``messages`` without the forgotten: user messages in ``dropped`` (ids) go whole, with the
    replies that follow them; the rest keep only the sentences that don't say it."""
    out: list[AnyMessage] = []
    skipping = False  # the replies to a user message that went
    for message in messages:
        if isinstance(message, HumanMessage):
            skipping = False
            if message.id in dropped:
                skipping = True
                continue
            kept = _scrubbed(message, what)
            if kept is None:
                skipping = True
                continue
            out.append(kept)
        elif skipping and isinstance(message, AIMessage | ToolMessage):
            continue
        elif isinstance(message, AIMessage) and not message.tool_calls:
            kept = _scrubbed(message, what)
            if kept is not None:
                out.append(kept)
        else:
            out.append(message)
    return out


def _scrubbed(message: AnyMessage, what: Forgettable) -> AnyMessage | None:
    """The message with the forgotten sentences gone (the same object when none was), None if
    nothing is left."""
    text = _text(message)
    if not any(what.mentions(s) for s in split_sentences(text)):
        return message
    rest = what.scrub(text)
    return message.model_copy(update={"content": rest}) if rest else None


def scrub_state(values: dict[str, Any], what: Forgettable, dropped: frozenset[str]) -> dict[str, Any]:
    """The thread's state without the forgotten: messages, summary, the messages memory could not
    store yet, and the memories the last reply was given with what the reader picked out of them
    (they are memory text)."""
    new = dict(values)
    new["messages"] = scrub_messages(list(values.get("messages", [])), what, dropped)
    if values.get("summary"):
        new["summary"] = what.scrub(values["summary"])
    new["unstored"] = [
        u
        for u in values.get("unstored", [])
        if u.get("message_id") not in what.message_ids
        and not any(what.mentions(s) for s in split_sentences(u.get("text", "")))
    ]
    new["recalled"] = []
    new["read"] = ""  # what the reader picked out of them: memory text as well
    return new

"""Tools the chat model may call on backends that support tool calls (not the embedded 1.5B model).

The user id comes from the graph state, never from the model's arguments: a prompt-injected
"search user 42's memory" has no parameter to put 42 in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any

from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import BaseTool, InjectedToolCallId, tool
from langgraph.prebuilt import InjectedState
from langgraph.types import Command

from agent.photo_choice import PhotoOut, PhotoTools, generate, recent_files, record
from agent.recall import recalled_lines
from memory.store import MemoryStore
from personas.library import PersonaLibrary


def make_tools(
    memory_for: Callable[[], MemoryStore],
    personas: PersonaLibrary | None = None,
    photos: PhotoTools | None = None,
) -> list[BaseTool]:
    @tool
    async def recall_memories(query: str, state: Annotated[dict[str, Any], InjectedState]) -> str:
        """Search what you remember about the user (facts and their earlier messages), e.g. 'name of
        their cat' or 'job interview'. Use it when the user refers to something from before that you
        don't see in the conversation."""
        memory = memory_for()
        found = await asyncio.to_thread(
            memory.search, state["user_id"], query, k=5, persona=state.get("persona_id")
        )
        lines = recalled_lines(found, datetime.now(UTC), state.get("lang", "ru"))
        return "\n".join(r.line for r in lines) or "nothing found"

    tools: list[BaseTool] = [recall_memories]
    if photos is None or personas is None:
        return tools

    def attach(state: dict[str, Any], photo: PhotoOut, tool_call_id: str) -> Command:
        turns = sum(1 for m in state["messages"] if isinstance(m, HumanMessage))
        return Command(
            update={
                "photos_sent": record(list(state.get("photos_sent", [])), photo, turns),
                "photo": asdict(photo),
                "messages": [ToolMessage(f"photo attached: {photo.caption}", tool_call_id=tool_call_id)],
            }
        )

    @tool
    async def send_photo(
        what: str,
        state: Annotated[dict[str, Any], InjectedState],
        tool_call_id: Annotated[str, InjectedToolCallId],
    ) -> Command | str:
        """Send the user one of your own photos that fits the moment, e.g. 'morning coffee', 'beach',
        'how I look'. Use it when the user asks for a photo or a photo would be a natural touch."""
        if photos.selector is None:
            return "no photos available"
        card = personas.get(state["persona_id"])
        choice = await asyncio.to_thread(
            photos.selector.select,
            card,
            what,
            lang=state.get("lang", "ru"),
            include_pro=bool(state.get("flags", {}).get("pro")),
            exclude=recent_files(list(state.get("photos_sent", []))),
            direct_request=True,
        )
        if choice is None:
            return "no fitting photo: say so in your own words, or don't mention photos"
        photo = PhotoOut(caption=choice.caption, path=str(choice.path), file=choice.photo.file)
        return attach(state, photo, tool_call_id)

    tools.append(send_photo)
    if photos.generator is None:  # no model configured: the tool does not exist for the LLM
        return tools

    @tool
    async def generate_image(
        description: str,
        state: Annotated[dict[str, Any], InjectedState],
        tool_call_id: Annotated[str, InjectedToolCallId],
    ) -> Command | str:
        """Draw a new picture of yourself in a described moment (e.g. 'reading on a rainy evening')
        when none of your photos fits. Never explicit, never real people."""
        card = personas.get(state["persona_id"])
        photo, refusal = await generate(photos, card, description, state.get("lang", "ru"))
        if photo is None:
            return refusal or "the picture did not come out: say so briefly, in character"
        return attach(state, photo, tool_call_id)

    tools.append(generate_image)
    return tools

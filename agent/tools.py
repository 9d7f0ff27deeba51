"""Tools the chat model may call on backends that support tool calls (not the embedded 1.5B model).

The user id comes from the graph state, never from the model's arguments: a prompt-injected
"search user 42's memory" has no parameter to put 42 in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from langchain_core.tools import BaseTool, tool
from langgraph.prebuilt import InjectedState

from agent.recall import recalled_lines
from memory.store import MemoryStore


def make_tools(memory_for: Callable[[], MemoryStore]) -> list[BaseTool]:
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

    return [recall_memories]

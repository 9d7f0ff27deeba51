"""LangChain messages → the ``{"role", "content"}`` dicts that chat templates render.

Both in-process backends (llama.cpp and transformers) hand these to the model's own chat template,
so the conversion lives in one place. Only text goes through: the local models read no images,
and tool calls are never sent to them (see ``bind_tools`` on each backend).
"""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

__all__ = ["reply_prefix", "to_chat_dicts"]


def _role(message: BaseMessage) -> str:
    if isinstance(message, SystemMessage):
        return "system"
    if isinstance(message, HumanMessage):
        return "user"
    if isinstance(message, AIMessage):
        return "assistant"
    if isinstance(message, ToolMessage):
        return "tool"
    if isinstance(message, ChatMessage):
        return message.role
    raise TypeError(f"cannot send a {type(message).__name__} to a local chat model")


def to_chat_dicts(messages: Sequence[BaseMessage]) -> list[dict[str, str]]:
    """One ``{"role", "content"}`` dict per message, text content only, order kept."""
    return [{"role": _role(m), "content": m.text} for m in messages]


def reply_prefix(messages: Sequence[BaseMessage]) -> str:
    """The start of the reply, when the messages end with one (an assistant message last, as
    LangChain's prefill convention has it): the model continues it rather than starting anew."""
    if messages and isinstance(messages[-1], AIMessage) and not messages[-1].tool_calls:
        return messages[-1].text
    return ""

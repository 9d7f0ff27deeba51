"""The four jobs an LLM does for DORA, and one shared model per job.

Four roles use an LLM: ``chat`` (the reply; the persona's temperature, short answers), ``memory``
(fact extraction and reconciliation: deterministic, room for a JSON list), ``summary``
(folding old turns: deterministic, a paragraph) and ``reader`` (what a question needs from the
recalled memories, before the reply: deterministic, one line; see :mod:`agent.memory_reader`).
:class:`LLMRegistry` builds each role's model once and hands the same instance back every time: on
the local backend that keeps one ``Llama`` per role, so each role's prompt prefix stays in
llama.cpp's cache between its calls (see :mod:`agent.llm.local`). Which backend builds the models
is the application root's choice (``dora.wiring.llm``); this module takes a plain builder.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Literal, get_args

from langchain_core.language_models import BaseChatModel

__all__ = [
    "PROMPT_CACHE_MB",
    "READER_MAX_TOKENS",
    "ROLES",
    "STRUCTURED_MAX_TOKENS",
    "LLMRegistry",
    "Role",
    "role_sampling",
]

Role = Literal["chat", "memory", "summary", "reader"]
ROLES: tuple[Role, ...] = get_args(Role)

STRUCTURED_MAX_TOKENS = 400  # a JSON list of a few facts, or a summary paragraph, in Russian
READER_MAX_TOKENS = 32  # what a question needs from memory, on one line (agent.memory_reader)
# RAM for llama.cpp state snapshots per role (LlamaRAMCache): the chat role alternates between
# users, the memory role between extraction and reconciliation prompts; a snapshot brings back
# a prompt's evaluated prefix instead of evaluating it again. Summaries are rare: none.
PROMPT_CACHE_MB: dict[Role, int] = {"chat": 512, "memory": 256, "summary": 0, "reader": 0}


def role_sampling(role: Role, chat_temperature: float, chat_max_tokens: int) -> tuple[float, int]:
    """``(temperature, max_tokens)`` for ``role``: the configured ones for replies, deterministic
    and room for a JSON list or a paragraph for the other two."""
    if role == "chat":
        return chat_temperature, chat_max_tokens
    if role in ("memory", "summary"):
        return 0.0, STRUCTURED_MAX_TOKENS
    if role == "reader":
        return 0.0, READER_MAX_TOKENS
    raise ValueError(f"unknown LLM role {role!r}; known roles: {', '.join(ROLES)}")


class LLMRegistry:
    """One chat model per role, built on first use by ``builder`` and shared after (thread-safe)."""

    def __init__(self, builder: Callable[[Role], BaseChatModel]) -> None:
        self._builder = builder
        self._models: dict[Role, BaseChatModel] = {}
        self._lock = threading.Lock()

    def get(self, role: Role) -> BaseChatModel:
        """The model for ``role``; the same instance on every call."""
        with self._lock:
            model = self._models.get(role)
            if model is None:
                model = self._models[role] = self._builder(role)
            return model

    __call__ = get

    def warm_up(self, roles: tuple[Role, ...] = ROLES) -> None:
        """Build every role's model and load in-process ones now, so a bad model fails at start."""
        for role in roles:
            load = getattr(self.get(role), "load", None)
            if callable(load):
                load()

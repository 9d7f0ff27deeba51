"""LLM backends behind one LangChain interface: llama.cpp (local), OpenAI-compatible servers, transformers.

=====================  ===============================================================
``errors``             ``LLMUnavailableError`` / ``LLMTimeoutError``, ``is_backend_failure``
``local``              ``LlamaCppChatModel``: a GGUF on llama.cpp, one instance per role
``openai_compat``      ``build_openai_chat``: ``ChatOpenAI`` with streaming, retries, timeout
``hf``                 ``TransformersChatModel``: a Hugging Face model folder
``structured``         ``structured(llm, schema)``: schema-shaped answers on any backend
``roles``              ``Role``, ``role_sampling``, ``LLMRegistry`` (one model per role)
``messages``, ``json_output``, ``timeouts``: shared pieces of the in-process backends
=====================  ===============================================================

Names are imported lazily: importing :mod:`agent.llm.errors` must not pull in langchain-openai,
llama.cpp or torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "LLMTimeoutError": "agent.llm.errors",
    "LLMUnavailableError": "agent.llm.errors",
    "is_backend_failure": "agent.llm.errors",
    "LlamaCppChatModel": "agent.llm.local",
    "TransformersChatModel": "agent.llm.hf",
    "build_openai_chat": "agent.llm.openai_compat",
    "structured": "agent.llm.structured",
    "LLMRegistry": "agent.llm.roles",
    "Role": "agent.llm.roles",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'agent.llm' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)

"""Chat models from :class:`~dora.config.Settings`: which backend, which model, which settings per role.

Three roles use an LLM: ``chat`` (the reply; the persona's temperature, short answers), ``memory``
(fact extraction and reconciliation: deterministic, room for a JSON list) and ``summary``
(folding old turns: deterministic, a paragraph). :class:`LLMRegistry` builds each role's model
once and hands the same instance back every time: on the local backend that keeps one
``Llama`` per role, so each role's prompt prefix stays in llama.cpp's cache between its calls
(see :mod:`agent.llm.local`).

Nothing here downloads a model: a missing file is a :class:`~dora.model_fetch.ModelMissingError`
that names the command or setting that fixes it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Literal, get_args

from langchain_core.language_models import BaseChatModel

from agent.llm.errors import LLMConfigError
from dora.config import Settings
from dora.model_fetch import ModelMissingError, require_model

__all__ = [
    "DEFAULT_GGUF_MODEL",
    "ROLES",
    "STRUCTURED_MAX_TOKENS",
    "LLMRegistry",
    "Role",
    "build_llm",
    "role_sampling",
]

Role = Literal["chat", "memory", "summary"]
ROLES: tuple[Role, ...] = get_args(Role)

DEFAULT_GGUF_MODEL = "qwen2.5-coder-1.5b"
STRUCTURED_MAX_TOKENS = 400  # a JSON list of a few facts, or a summary paragraph, in Russian
# RAM for llama.cpp state snapshots per role (LlamaRAMCache): the chat role alternates between
# users, the memory role between extraction and reconciliation prompts; a snapshot brings back
# a prompt's evaluated prefix instead of evaluating it again. Summaries are rare: none.
PROMPT_CACHE_MB: dict[Role, int] = {"chat": 512, "memory": 256, "summary": 0}


def role_sampling(settings: Settings, role: Role) -> tuple[float, int]:
    """``(temperature, max_tokens)`` for ``role``."""
    if role == "chat":
        return settings.llm_temperature, settings.llm_reply_max_tokens
    if role in ("memory", "summary"):
        return 0.0, STRUCTURED_MAX_TOKENS
    raise ValueError(f"unknown LLM role {role!r}; known roles: {', '.join(ROLES)}")


def _gguf_path(settings: Settings) -> Path:
    if settings.llm_gguf is not None:
        path = Path(settings.llm_gguf)
        if not path.is_file():
            raise ModelMissingError(
                f"DORA_LLM_GGUF points to {path}, which is not a file: set it to a GGUF model, or unset it "
                f"to use the default model (`dora models fetch {DEFAULT_GGUF_MODEL}`)."
            )
        return path
    try:
        return require_model(settings, DEFAULT_GGUF_MODEL)
    except ModelMissingError as exc:
        raise ModelMissingError(f"{exc} Or point DORA_LLM_GGUF at another GGUF file.") from None


def build_llm(settings: Settings, role: Role) -> BaseChatModel:
    """A new chat model for ``role`` on the configured backend (use :class:`LLMRegistry` to share them)."""
    temperature, max_tokens = role_sampling(settings, role)
    if settings.llm == "local":
        from agent.llm.local import LlamaCppChatModel

        return LlamaCppChatModel(
            model_path=_gguf_path(settings),
            role=role,
            n_ctx=settings.llm_context,
            n_threads=settings.llm_threads,
            temperature=temperature,
            max_tokens=max_tokens,
            timeout_s=settings.llm_timeout_s,
            prompt_cache_mb=PROMPT_CACHE_MB[role],
        )
    if settings.llm == "openai":
        missing = [
            name
            for name, value in (
                ("DORA_LLM_BASE_URL", settings.llm_base_url),
                ("DORA_LLM_MODEL", settings.llm_model),
            )
            if not value
        ]
        if missing:
            raise LLMConfigError(
                f"DORA_LLM=openai needs {' and '.join(missing)}: the server's URL (e.g. "
                "http://127.0.0.1:8000/v1) and the model name it serves"
            )
        from agent.llm.openai_compat import build_openai_chat

        return build_openai_chat(
            base_url=settings.llm_base_url or "",
            api_key=settings.llm_api_key,
            model=settings.llm_model or "",
            temperature=temperature,
            max_tokens=max_tokens,
            timeout_s=settings.llm_timeout_s,
            retries=settings.llm_retries,
        )
    if settings.llm == "transformers":
        if not settings.llm_model:
            raise LLMConfigError(
                "DORA_LLM=transformers needs DORA_LLM_MODEL: the path of a Hugging Face model folder"
            )
        from agent.llm.hf import TransformersChatModel

        return TransformersChatModel(
            model_dir=Path(settings.llm_model),
            role=role,
            temperature=temperature,
            max_tokens=max_tokens,
            timeout_s=settings.llm_timeout_s,
        )
    raise LLMConfigError(f"unknown DORA_LLM {settings.llm!r}: use local, openai or transformers")


class LLMRegistry:
    """One chat model per role, built on first use and shared after (thread-safe)."""

    def __init__(
        self, settings: Settings, builder: Callable[[Settings, Role], BaseChatModel] = build_llm
    ) -> None:
        self._settings = settings
        self._builder = builder
        self._models: dict[Role, BaseChatModel] = {}
        self._lock = threading.Lock()

    def get(self, role: Role) -> BaseChatModel:
        """The model for ``role``; the same instance on every call."""
        with self._lock:
            model = self._models.get(role)
            if model is None:
                model = self._models[role] = self._builder(self._settings, role)
            return model

    __call__ = get

    def warm_up(self, roles: tuple[Role, ...] = ROLES) -> None:
        """Build every role's model and load in-process ones now, so a bad model fails at start."""
        for role in roles:
            load = getattr(self.get(role), "load", None)
            if callable(load):
                load()

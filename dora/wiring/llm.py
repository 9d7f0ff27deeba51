"""Chat models from :class:`Settings`: which backend, which model, which settings per role.

Nothing here downloads a model: a missing file is a :class:`~common.errors.ModelMissingError`
that names the command or setting that fixes it.
"""

from __future__ import annotations

from pathlib import Path

from langchain_core.language_models import BaseChatModel

from agent.llm.errors import LLMConfigError
from agent.llm.roles import PROMPT_CACHE_MB, LLMRegistry, Role, role_sampling
from common.errors import ModelMissingError
from dora.config import Settings
from dora.model_fetch import require_model

__all__ = ["DEFAULT_GGUF_MODEL", "build_llm", "llm_registry"]

DEFAULT_GGUF_MODEL = "qwen2.5-coder-1.5b"


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
    """A new chat model for ``role`` on the configured backend (use :func:`llm_registry` to share them)."""
    temperature, max_tokens = role_sampling(role, settings.llm_temperature, settings.llm_reply_max_tokens)
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


def chat_model_name(settings: Settings) -> str:
    """The chat model as a rating records it: the backend and the model it names (a GGUF file's or a
    folder's name, the server's model name), so ratings from before and after a switch stay apart."""
    if settings.llm == "local":
        return f"local:{Path(settings.llm_gguf).name if settings.llm_gguf else DEFAULT_GGUF_MODEL}"
    if settings.llm == "transformers":
        return f"transformers:{Path(settings.llm_model or '').name}"
    return f"{settings.llm}:{settings.llm_model or ''}"


def llm_registry(settings: Settings) -> LLMRegistry:
    """One model per role on the configured backend (llama.cpp / transformers load on first use)."""
    return LLMRegistry(lambda role: build_llm(settings, role))

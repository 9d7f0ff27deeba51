"""The ``openai`` backend: any OpenAI-compatible server (vLLM, llama-server, Ollama, OpenAI itself).

A thin builder over ``langchain_openai.ChatOpenAI`` so every caller gets the same settings:
streaming on (the bot shows the reply as it is written), the client's own retries with
exponential backoff (``max_retries``: the ``openai`` client retries connection errors, timeouts,
429 and 5xx, honouring the server's ``retry-after``), and one timeout that bounds connecting and
every read: a stream that stalls for ``timeout_s`` fails with ``httpx.ReadTimeout``, which
:func:`agent.llm.errors.is_backend_failure` recognises. Worst case before an answer counts as
failed is about ``(retries + 1) * timeout_s`` plus the backoff sleeps.

Structured output must go through :func:`agent.llm.structured.structured`: ``ChatOpenAI``
defaults to ``response_format=json_schema``, which many OpenAI-compatible servers don't support.
"""

from __future__ import annotations

from langchain_openai import ChatOpenAI
from pydantic import SecretStr

__all__ = ["NO_API_KEY", "build_openai_chat"]

NO_API_KEY = "not-needed"  # self-hosted servers ignore the key, but the openai client insists on one


def build_openai_chat(
    base_url: str,
    api_key: str | SecretStr | None,
    model: str,
    temperature: float,
    max_tokens: int,
    timeout_s: float,
    retries: int,
) -> ChatOpenAI:
    """A streaming ``ChatOpenAI`` for ``model`` at ``base_url`` (e.g. ``http://127.0.0.1:8000/v1``).

    ``max_tokens`` is sent as ``max_completion_tokens`` (LangChain's mapping; current vLLM,
    llama-server and OpenAI accept it).
    """
    if not base_url:
        raise ValueError("an OpenAI-compatible backend needs a base URL (DORA_LLM_BASE_URL)")
    if not model:
        raise ValueError("an OpenAI-compatible backend needs a model name (DORA_LLM_MODEL)")
    key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
    return ChatOpenAI(
        base_url=base_url,
        api_key=SecretStr(key or NO_API_KEY),
        model=model,
        temperature=temperature,
        max_tokens=max_tokens,
        timeout=timeout_s,
        max_retries=retries,
        streaming=True,
    )

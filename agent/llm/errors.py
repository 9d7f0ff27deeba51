"""Errors every LLM backend raises when it cannot answer, and one test for "the backend failed".

The agent answers a failed turn with an in-character apology instead of a stack trace, so it must
tell a *backend* failure (server down, connection refused, a crash inside llama.cpp, a stalled
stream) from a bug in our own code. Our local backends raise :class:`LLMUnavailableError`; the
OpenAI-compatible one raises the ``openai`` / ``httpx`` exceptions as they come (a mid-stream
read timeout surfaces as a bare ``httpx.ReadTimeout``), so :func:`is_backend_failure` recognises
those too, walking the exception chain.
"""

from __future__ import annotations

import functools

__all__ = ["LLMTimeoutError", "LLMUnavailableError", "is_backend_failure"]


class LLMConfigError(ValueError):
    """The backend settings are incomplete or wrong (names the DORA_ setting to fix)."""


class LLMUnavailableError(RuntimeError):
    """The LLM backend could not produce an answer: down, unreachable, crashed or failed to load."""


class LLMTimeoutError(LLMUnavailableError):
    """No answer (or no next token of a streamed answer) within the configured timeout."""


@functools.cache
def _library_failures() -> tuple[type[BaseException], ...]:
    """Exception types of the client libraries that mean "the backend failed", where installed."""
    types: list[type[BaseException]] = []
    try:
        import openai

        # APITimeoutError is a subclass of APIConnectionError; RateLimitError (429 after the
        # client's own retries) means the server is overloaded: for the user, the same as down.
        types += [openai.APIConnectionError, openai.InternalServerError, openai.RateLimitError]
    except ImportError:  # pragma: no cover - openai comes with langchain-openai
        pass
    try:
        from langchain_core import exceptions as lc

        # provider-neutral classes that LangChain integrations raise (langchain-core >= 1.8)
        names = ("ModelAPIError", "ModelConnectionError", "ModelTimeoutError", "ModelRateLimitError")
        types += [getattr(lc, n) for n in names if hasattr(lc, n)]
    except ImportError:  # pragma: no cover
        pass
    try:
        import httpx

        types.append(httpx.TransportError)  # connect/read/write timeouts, refused, dropped connections
    except ImportError:  # pragma: no cover - httpx comes with openai
        pass
    return tuple(types)


def _is_server_error_status(exc: BaseException) -> bool:
    """An ``httpx.HTTPStatusError`` (or anything with a response) carrying a 5xx status."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return isinstance(status, int) and status >= 500


def is_backend_failure(exc: BaseException) -> bool:
    """True when ``exc`` (or one it was raised ``from``) means the LLM backend failed.

    Recognised: our :class:`LLMUnavailableError` family, ``openai.APIConnectionError`` (and its
    ``APITimeoutError``), ``openai.InternalServerError`` (5xx), ``openai.RateLimitError``,
    LangChain's ``ModelAPIError`` / ``ModelConnectionError`` / ``ModelTimeoutError`` /
    ``ModelRateLimitError`` (what langchain-openai raises, subclasses of the openai ones), any
    ``httpx.TransportError`` and 5xx ``httpx.HTTPStatusError``, and the builtin
    ``ConnectionError`` / ``TimeoutError``. A parsing error or a 4xx (bad request, wrong key)
    is not a backend failure: it is a bug or a configuration error and should be seen as one.
    """
    failures = (LLMUnavailableError, ConnectionError, TimeoutError, *_library_failures())
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, failures):
            return True
        if type(current).__name__ == "HTTPStatusError" and _is_server_error_status(current):
            return True
        # Only explicit ``raise ... from`` links: an implicit __context__ would also blame the
        # backend for a bug raised while some earlier connection error was being handled.
        current = current.__cause__
    return False


def refuse_forced_tool_choice(tool_choice: object, backend: str) -> None:
    """Backends that answer in text (llama.cpp, transformers) ignore ``bind_tools``, but a *forced*
    tool choice can't be honoured: that raises, naming what to use instead."""
    forced = tool_choice is True or isinstance(tool_choice, dict)
    forced = forced or (isinstance(tool_choice, str) and tool_choice not in ("auto", "none"))
    if forced:
        raise NotImplementedError(
            f"the {backend} backend doesn't call tools (tool_choice={tool_choice!r}); "
            "use with_structured_output for a schema-shaped answer"
        )

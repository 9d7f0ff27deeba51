"""Structured output that works on every backend, with one failure mode: ``OutputParserException``.

Each backend has a way of its own to make a model answer in a schema, and only some work:

- OpenAI-compatible servers: ``ChatOpenAI`` defaults to ``response_format={"type": "json_schema"}``,
  which vLLM, llama-server, Ollama and others support unevenly; a forced *tool call*
  (``method="function_calling"``) is what they all implement, so that is what we use.
- llama.cpp (:class:`~agent.llm.local.LlamaCppChatModel`): the JSON schema is compiled to a
  grammar that constrains sampling, so even a tiny model emits schema-shaped JSON.
- transformers (:class:`~agent.llm.hf.TransformersChatModel`): the schema goes into the prompt
  and the first JSON object in the answer is parsed.
- anything else (a test double, another provider): its own ``with_structured_output``.

Whatever the path, a model that ignores the schema (no tool call, prose, JSON that fails
validation) surfaces as ``OutputParserException``: callers such as the memory pipeline keep
their work pending and retry later, while backend failures (see :mod:`agent.llm.errors`) are
raised as they are.
"""

from __future__ import annotations

from typing import Any

from langchain_core.exceptions import OutputParserException
from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from pydantic import BaseModel, ValidationError

__all__ = ["structured", "uses_function_calling"]


def uses_function_calling(llm: BaseChatModel) -> bool:
    """True for OpenAI-compatible chat models, where a forced tool call is the portable way."""
    try:
        from langchain_openai.chat_models.base import BaseChatOpenAI
    except ImportError:  # pragma: no cover - langchain-openai is a dependency
        return False
    return isinstance(llm, BaseChatOpenAI)


def structured(llm: BaseChatModel, schema: type[BaseModel] | dict[str, Any]) -> Runnable[Any, Any]:
    """``llm`` answering as ``schema``: a pydantic instance (or a dict for a JSON schema).

    Raises ``OutputParserException`` when the answer does not fit the schema, and the backend's
    own errors when the backend fails.
    """
    if uses_function_calling(llm):
        # Not streamed: a streamed tool call is assembled by LangChain's *partial* JSON parser,
        # which "repairs" broken arguments ('{"facts": [oops' became {"facts": []}: a silent empty
        # answer where there should be an error). A whole answer is parsed strictly.
        llm = llm.model_copy(update={"streaming": False, "disable_streaming": True})
        inner = llm.with_structured_output(schema, method="function_calling")
    else:
        inner = llm.with_structured_output(schema)

    def invoke(value: Any, config: RunnableConfig) -> Any:
        try:
            return _check(inner.invoke(value, config), schema)
        except ValidationError as exc:
            raise _not_fitting(schema, exc) from exc

    async def ainvoke(value: Any, config: RunnableConfig) -> Any:
        try:
            return _check(await inner.ainvoke(value, config), schema)
        except ValidationError as exc:
            raise _not_fitting(schema, exc) from exc

    return RunnableLambda(invoke, afunc=ainvoke, name="structured")


def _not_fitting(schema: type[BaseModel] | dict[str, Any], exc: ValidationError) -> OutputParserException:
    name = getattr(schema, "__name__", "the schema")
    return OutputParserException(f"the model's answer does not fit {name}: {exc}")


def _check(value: Any, schema: type[BaseModel] | dict[str, Any]) -> Any:
    """One failure mode: "no answer" and answers that fail validation become ``OutputParserException``."""
    if value is None:
        # LangChain's tool parsers return None when the model made no (valid) tool call at all.
        raise OutputParserException("the model gave no structured answer (no valid tool call / no JSON)")
    if isinstance(schema, type) and issubclass(schema, BaseModel) and not isinstance(value, schema):
        return schema.model_validate(value)
    return value

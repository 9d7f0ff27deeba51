"""JSON answers for the in-process backends: the schema to ask for, and parsing what comes back.

``with_structured_output`` on :class:`~agent.llm.local.LlamaCppChatModel` and
:class:`~agent.llm.hf.TransformersChatModel` share this: the schema as plain JSON Schema (for a
llama.cpp grammar, or for the prompt), and a parser that takes the first JSON object in the
answer and validates it. Any answer that does not fit raises ``OutputParserException``, the
exception callers already treat as "keep the work pending and retry later".
"""

from __future__ import annotations

import json
from typing import Any

from langchain_core.exceptions import OutputParserException
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableLambda
from langchain_core.utils.function_calling import convert_to_json_schema
from pydantic import BaseModel, ValidationError

__all__ = ["Schema", "first_json_object", "json_schema_of", "parse_json_answer", "with_json_parser"]

Schema = type[BaseModel] | dict[str, Any]


def _is_model(schema: Schema) -> bool:
    return isinstance(schema, type) and issubclass(schema, BaseModel)


def json_schema_of(schema: Schema) -> dict[str, Any]:
    """Plain JSON Schema for a pydantic class, a JSON Schema dict, or an OpenAI tool/function dict."""
    if _is_model(schema):
        return schema.model_json_schema()  # type: ignore[union-attr]
    if isinstance(schema, dict) and schema.get("type") == "object" and "properties" in schema:
        return schema
    return convert_to_json_schema(schema)


def first_json_object(text: str) -> dict[str, Any]:
    """The first JSON object in ``text`` (prose or code fences around it are skipped)."""
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start != -1:
        try:
            value, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            pass
        else:
            if isinstance(value, dict):
                return value
        start = text.find("{", start + 1)
    raise OutputParserException(f"no JSON object in the model's answer: {text[:200]!r}", llm_output=text)


def parse_json_answer(text: str, schema: Schema) -> Any:
    """The answer as ``schema``: a validated pydantic instance, or the JSON object for a dict schema."""
    value = first_json_object(text)
    if not _is_model(schema):
        return value
    try:
        return schema.model_validate(value)  # type: ignore[union-attr]
    except ValidationError as exc:
        name = schema.__name__  # type: ignore[union-attr]
        raise OutputParserException(f"the model's JSON does not fit {name}: {exc}", llm_output=text) from exc


def with_json_parser(
    bound: Runnable[Any, BaseMessage], schema: Schema, include_raw: bool
) -> Runnable[Any, Any]:
    """``bound`` (a model asked for JSON) followed by the parser, LangChain's ``include_raw`` shape."""

    def parse(message: BaseMessage) -> Any:
        return parse_json_answer(message.text, schema)

    if not include_raw:
        return bound | RunnableLambda(parse, name="parse_json_answer")

    def parse_keeping_raw(message: BaseMessage) -> dict[str, Any]:
        try:
            return {"raw": message, "parsed": parse(message), "parsing_error": None}
        except OutputParserException as exc:
            return {"raw": message, "parsed": None, "parsing_error": exc}

    return bound | RunnableLambda(parse_keeping_raw, name="parse_json_answer")

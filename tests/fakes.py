"""A fake chat model that behaves like a real tool-calling one (the only fake the tests use).

``with_structured_output`` on a real model binds the schema as a tool and parses the tool call
the model returns; this fake does the same through LangChain's own machinery, with the tool call's
arguments coming from a script instead of a network.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool

Responder = Callable[[str, list[BaseMessage]], dict[str, Any] | Exception | str]


class ScriptedToolModel(BaseChatModel):
    """Answers each call with a tool call whose arguments ``responder(tool_name, messages)`` returns.

    The responder may return an Exception (raised, like a backend crash) or a str (returned as
    plain text with no tool call, like a model ignoring the schema).
    """

    responder: Responder
    calls: list[tuple[str, list[BaseMessage]]] = []  # noqa: RUF012 - pydantic copies field defaults

    @property
    def _llm_type(self) -> str:
        return "scripted-tool-model"

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: Any = None, **kwargs: Any):  # type: ignore[override]
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], tool_choice=tool_choice, **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        tools = kwargs.get("tools") or []
        name = tools[0]["function"]["name"] if tools else ""
        self.calls.append((name, messages))
        answer = self.responder(name, messages)
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, str):
            return ChatResult(generations=[ChatGeneration(message=AIMessage(content=answer))])
        name, answer = _which_tool(name, answer)
        message = AIMessage(
            content="", tool_calls=[{"name": name, "args": answer, "id": f"call_{len(self.calls)}"}]
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        """Plain-text answers stream word by word, like a real server; tool calls come whole
        (LangChain reports each chunk to callbacks itself).

        A responder may return a ``Streamed(words, then=exc)`` to fail mid-stream."""
        tools = kwargs.get("tools") or []
        name = tools[0]["function"]["name"] if tools else ""
        self.calls.append((name, messages))
        answer = self.responder(name, messages)
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, Streamed):
            for word in answer.words:
                yield ChatGenerationChunk(message=AIMessageChunk(content=word))
            raise answer.then
        if isinstance(answer, str):
            for n, word in enumerate(answer.split(" ")):
                piece = word if n == 0 else " " + word
                yield ChatGenerationChunk(message=AIMessageChunk(content=piece))
            return
        name, answer = _which_tool(name, answer)
        call = {"name": name, "args": answer, "id": f"call_{len(self.calls)}"}
        yield ChatGenerationChunk(message=AIMessageChunk(content="", tool_calls=[call]))


def _which_tool(first: str, answer: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A responder picks another bound tool than the first with a ``"__tool__"`` key."""
    if "__tool__" in answer:
        answer = dict(answer)
        return answer.pop("__tool__"), answer
    return first, answer


class Streamed:
    """A reply that streams ``words`` and then raises ``then`` (a backend dying mid-reply)."""

    def __init__(self, words: list[str], then: Exception) -> None:
        self.words, self.then = words, then


def scripted(responder: Responder) -> ScriptedToolModel:
    return ScriptedToolModel(responder=responder, calls=[])

"""The one fake chat model: what the tests, the benches and the demo use in place of an LLM.

It goes through the same LangChain interface a real tool-calling backend does, because a fake that
skips part of it hides the bugs in that part: ``with_structured_output`` is LangChain's own, which
binds the schema as a tool (:meth:`FakeChatModel.bind_tools`) and parses the tool call the model
returns; sync and async calls, whole and streamed, all exist. Only the answers are made up: a
*responder* ``(tool_name, messages) -> answer`` gives them, where ``tool_name`` is the first bound
tool's name ("" for a plain chat call) and the answer is

- a ``dict``: the arguments of a call to that tool (a ``"__tool__"`` key picks another bound tool);
- a ``str``: plain text and no tool call (a chat reply, or a model ignoring the schema); when the
  messages end with an assistant message, the reply starts with it and the text follows (a started
  reply continued, as the local backend does);
- a :class:`Streamed`: some words, then a failure (a backend dying mid-reply);
- an ``Exception``: raised, as a backend's failure would be.

Plain text streams word by word, the way a server sends it; a tool call comes whole. ``latency_s``
is waited before each answer (a real backend's time to first token), ``word_interval_s`` between
the words of a streamed one (its pace): with ``asyncio.sleep`` on the
async paths, so the event loop keeps serving others, and with ``time.sleep`` on the sync ones, which
block their thread as a real HTTP call would.

``threaded`` (the default) runs the async paths as LangChain runs any sync-only model, in a worker
thread: a responder may then block (a test holding a reply back behind an event) without stalling
the event loop. A load bench turns it off, so the bot's CPU time carries no thread hop per call that
an async HTTP backend would not cost.

The responders most callers need are here: :func:`fixed` (one reply), :func:`echo` (the user's
message back); :func:`scripted` wraps a responder of the caller's own and records each call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import PrivateAttr

__all__ = ["NOTHING", "Answer", "FakeChatModel", "Responder", "Streamed", "echo", "fixed", "scripted"]


class Streamed:
    """A reply that streams ``words`` and then raises ``then`` (a backend dying mid-reply)."""

    def __init__(self, words: list[str], then: Exception) -> None:
        self.words, self.then = words, then


Answer = dict[str, Any] | str | Streamed | Exception
Responder = Callable[[str, list[BaseMessage]], Answer]

NOTHING: dict[str, Any] = {"facts": [], "action": "NOOP"}
"""A structured answer that says nothing and fits both of memory's schemas: no facts extracted,
nothing to change when reconciling. Benches answer it so memory's pipeline runs without adding."""


class FakeChatModel(BaseChatModel):
    """A tool-calling chat model whose answers come from ``responder`` (see the module docstring).

    ``calls``: when a list, every call's ``(tool_name, messages)`` is appended to it, for tests to
    look at; None (the default) records nothing, since a long bench would keep every prompt.
    """

    responder: Responder
    latency_s: float = 0.0
    word_interval_s: float = 0.0  # between streamed words: a model writing at a pace (0: at once)
    threaded: bool = True
    calls: list[tuple[str, list[BaseMessage]]] | None = None
    _count: int = PrivateAttr(default=0)

    @property
    def _llm_type(self) -> str:
        return "fake-chat"

    def bind_tools(  # type: ignore[override]
        self, tools: Sequence[Any], *, tool_choice: Any = None, **kwargs: Any
    ) -> Runnable[Any, AIMessage]:
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], tool_choice=tool_choice, **kwargs)

    def _ask(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> tuple[str, Answer, str]:
        """The responder's answer to this call: (the tool asked for, the answer, a tool call id)."""
        tools = kwargs.get("tools") or []
        name = tools[0]["function"]["name"] if tools else ""
        self._count += 1
        call_id = f"call_{self._count}"
        if self.calls is not None:
            self.calls.append((name, messages))
        answer = self.responder(name, messages)
        last = messages[-1] if messages else None
        if isinstance(answer, str) and isinstance(last, AIMessage) and last.text and not last.tool_calls:
            answer = f"{last.text} {answer}"  # a started reply is continued, as llama.cpp's is
        return name, answer, call_id

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        time.sleep(self.latency_s)
        return _whole(*self._ask(messages, kwargs))

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.threaded:  # LangChain's own: _generate in a worker thread
            return await super()._agenerate(messages, stop, run_manager, **kwargs)
        await asyncio.sleep(self.latency_s)
        return _whole(*self._ask(messages, kwargs))

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        time.sleep(self.latency_s)
        for n, chunk in enumerate(_pieces(*self._ask(messages, kwargs))):
            if n and self.word_interval_s:
                time.sleep(self.word_interval_s)
            yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        if self.threaded:  # LangChain's own: _stream stepped in a worker thread
            async for chunk in super()._astream(messages, stop, run_manager, **kwargs):
                yield chunk
            return
        await asyncio.sleep(self.latency_s)
        for n, chunk in enumerate(_pieces(*self._ask(messages, kwargs))):
            if n and self.word_interval_s:
                await asyncio.sleep(self.word_interval_s)
            yield chunk


def _which_tool(first: str, answer: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A responder picks another bound tool than the first with a ``"__tool__"`` key."""
    if "__tool__" in answer:
        answer = dict(answer)
        return answer.pop("__tool__"), answer
    return first, answer


def _whole(name: str, answer: Answer, call_id: str) -> ChatResult:
    """The answer as one message; a :class:`Streamed` fails as its stream would, only sooner."""
    if isinstance(answer, Exception):
        raise answer
    if isinstance(answer, Streamed):
        raise answer.then
    if isinstance(answer, str):
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=answer))])
    name, args = _which_tool(name, answer)
    message = AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": call_id}])
    return ChatResult(generations=[ChatGeneration(message=message)])


def _pieces(name: str, answer: Answer, call_id: str) -> Iterator[ChatGenerationChunk]:
    """The answer as a stream: text word by word (the pieces join back to it exactly), a tool call
    whole (LangChain reports each chunk to the callbacks itself)."""
    if isinstance(answer, Exception):
        raise answer
    if isinstance(answer, Streamed):
        for word in answer.words:
            yield ChatGenerationChunk(message=AIMessageChunk(content=word))
        raise answer.then
    if isinstance(answer, str):
        for n, word in enumerate(answer.split(" ")):
            yield ChatGenerationChunk(message=AIMessageChunk(content=word if n == 0 else " " + word))
        return
    name, args = _which_tool(name, answer)
    call = {"name": name, "args": args, "id": call_id}
    yield ChatGenerationChunk(message=AIMessageChunk(content="", tool_calls=[call]))


def fixed(reply: str, structured: dict[str, Any] = NOTHING) -> Responder:
    """Every chat call answers ``reply``; every structured call (a bound tool) ``structured``."""

    def respond(tool: str, messages: list[BaseMessage]) -> Answer:
        return dict(structured) if tool else reply

    return respond


def echo(prefix: str = "Ответ на: ", structured: dict[str, Any] = NOTHING) -> Responder:
    """Chat calls answer ``prefix`` and the user's last message, so a load generator can tell which
    message a reply answers; structured calls answer ``structured``."""

    def respond(tool: str, messages: list[BaseMessage]) -> Answer:
        if tool:
            return dict(structured)
        last = next((m for m in reversed(messages) if isinstance(m, HumanMessage)), None)
        return f"{prefix}{'' if last is None else last.content}"

    return respond


def scripted(responder: Responder) -> FakeChatModel:
    """A model answering with ``responder`` that records its calls (``model.calls``), for tests."""
    return FakeChatModel(responder=responder, calls=[])

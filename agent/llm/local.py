"""The ``local`` backend: a GGUF model run in-process by llama.cpp, as a LangChain chat model.

Why one instance per *role* (chat reply, memory extraction, summary): llama.cpp keeps the KV
cache of the last prompt in its context and re-evaluates only what differs, so a prompt whose
start is byte-for-byte the previous one's (the persona first, then memories, then the turn)
costs a fraction of a cold one. Measured with Qwen2.5-1.5B on 2 cores: time to first token
11–15 s cold against about 1 s with the prefix reused. Any call with another prompt evicts that
prefix, so extraction and summaries get their own ``Llama`` (the weights are mmapped and shared;
each instance adds its KV cache and buffers). Optionally (``prompt_cache_mb``) an instance also
keeps snapshots of past states in RAM (:mod:`agent.llm.prompt_cache`), which helps when one role
alternates between prompts (two users chatting in turn: time to first token 6.7 s → 1–1.5 s).

llama.cpp is not thread-safe: each instance loads its ``Llama`` lazily, once, and serialises
calls with a lock (released from whichever thread finishes the stream, so a plain ``Lock``).

Timeouts: ``timeout_s`` bounds the wait for the first token (from the call, waiting for the lock
included) and between tokens; see :mod:`agent.llm.timeouts`. Every call streams internally so the
timer can be checked per token; ``invoke`` just joins the stream.

A started reply: messages that end with an assistant message (LangChain's prefill convention) are
continued from it: the chat is rendered with the model's own template, the assistant's turn opened
and the start written into it, and completion goes on from there; the start is the answer's first
chunk (see :mod:`agent.reply_lead` for why).

Tools: small local models don't make tool calls reliably, so :meth:`LlamaCppChatModel.bind_tools`
returns the model unchanged (tools are not sent; answers are plain text, never tool calls) and
refuses a *forced* tool choice it cannot honour. Structured output uses llama.cpp's JSON-schema
grammar instead (:meth:`LlamaCppChatModel.with_structured_output`).

Retries: none here. A local model has no transient failures worth retrying (a crash or a corrupt
file fails the same way again); failures raise :class:`LLMUnavailableError` and the caller
decides.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.language_models.chat_models import generate_from_stream
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from pydantic import ConfigDict, PrivateAttr

from agent.llm.errors import LLMUnavailableError, refuse_forced_tool_choice
from agent.llm.json_output import Schema, json_schema_of, with_json_parser
from agent.llm.messages import reply_prefix, to_chat_dicts
from agent.llm.timeouts import StallTimer
from common.errors import ModelMissingError

__all__ = ["LlamaCppChatModel"]

log = logging.getLogger(__name__)


class LlamaCppChatModel(BaseChatModel):
    """A GGUF chat model on llama.cpp, one ``Llama`` per instance (make one instance per role)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model_path: Path
    role: str = "chat"
    """Which job this instance does (chat, memory, summary): for logs and errors."""
    n_ctx: int = 4096
    n_threads: int = 2
    n_threads_batch: int | None = None
    """Threads for prompt evaluation; ``None``: same as ``n_threads``."""
    temperature: float = 0.7
    max_tokens: int = 200
    timeout_s: float = 120.0
    seed: int | None = None
    prompt_cache_mb: int = 0
    """RAM for snapshots of past prompt states (:mod:`agent.llm.prompt_cache`); 0: only the live one."""

    _llama: Any = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _formatter: Any = PrivateAttr(default=None)  # the chat template, for continuing a started reply

    def model_post_init(self, context: Any, /) -> None:
        if not Path(self.model_path).is_file():
            raise ModelMissingError(
                f"GGUF model not found at {self.model_path}: point DORA_LLM_GGUF at a GGUF file, or unset "
                "it and run `dora models fetch qwen2.5-coder-1.5b` for the default model."
            )

    @property
    def _llm_type(self) -> str:
        return "llama-cpp"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_path": str(self.model_path), "role": self.role, "n_ctx": self.n_ctx}

    @property
    def model_name(self) -> str:
        return Path(self.model_path).name

    # ----------------------------------------------------------------------------------------
    # The Llama object

    @property
    def loaded(self) -> bool:
        return self._llama is not None

    def load(self) -> None:
        """Load the model now (at start-up, to fail early and keep the first reply fast)."""
        with self._lock:
            self._load_locked()

    def _load_locked(self) -> Any:
        if self._llama is not None:
            return self._llama
        try:
            from llama_cpp import Llama

            from agent.llm.prompt_cache import SnapshotCache
        except ImportError as exc:  # pragma: no cover - a dependency of the project
            raise LLMUnavailableError("llama-cpp-python is not installed (DORA_LLM=local needs it)") from exc
        try:
            llama = Llama(
                model_path=str(self.model_path),
                n_ctx=self.n_ctx,
                n_threads=self.n_threads,
                n_threads_batch=self.n_threads_batch or self.n_threads,
                seed=self.seed if self.seed is not None else 0xFFFFFFFF,  # LLAMA_DEFAULT_SEED: random
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise LLMUnavailableError(f"could not load the GGUF model {self.model_path}: {exc}") from exc
        if self.prompt_cache_mb > 0:
            llama.set_cache(SnapshotCache(capacity_bytes=self.prompt_cache_mb << 20))
        log.info(
            "llm[%s]: loaded %s (n_ctx=%d, threads=%d)",
            self.role,
            self.model_name,
            self.n_ctx,
            self.n_threads,
        )
        self._llama = llama
        return llama

    @contextlib.contextmanager
    def _session(self, timer: StallTimer) -> Iterator[Any]:
        """The loaded ``Llama``, held exclusively; waiting for it counts towards the first-token wait."""
        wait = timer.remaining()
        if not (self._lock.acquire(timeout=wait) if wait > 0 else self._lock.acquire(blocking=False)):
            raise timer.expired()
        try:
            yield self._load_locked()
        finally:
            self._lock.release()

    # ----------------------------------------------------------------------------------------
    # Token counting (exact, with the model's own tokenizer; LangChain's default needs GPT-2 from a hub)

    def get_token_ids(self, text: str) -> list[int]:
        llama = self._llama
        if llama is None:
            with self._lock:
                llama = self._load_locked()
        # Tokenising only reads the vocabulary: no need to wait for a generation in progress.
        return list(llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    # ----------------------------------------------------------------------------------------
    # Generation

    def _params(self, stop: list[str] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        params: dict[str, Any] = {
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
            "stop": stop or [],
        }
        for key in (
            "temperature",
            "max_tokens",
            "seed",
            "response_format",
            "top_p",
            "top_k",
            "repeat_penalty",
        ):
            if kwargs.get(key) is not None:
                params[key] = kwargs[key]
        return params

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        timer = StallTimer(self.timeout_s, f"local LLM ({self.role})")
        params = self._params(stop, kwargs)
        prefix = reply_prefix(messages)
        chats = to_chat_dicts(messages[:-1] if prefix else messages)
        with self._session(timer) as llama:
            if prefix:
                chunks = self._continue(llama, chats, prefix, params)
                piece = ChatGenerationChunk(message=AIMessageChunk(content=prefix))
                if run_manager:
                    run_manager.on_llm_new_token(prefix, chunk=piece)
                yield piece
            else:
                chunks = llama.create_chat_completion(messages=chats, stream=True, **params)
            prompt_tokens: int | None = None
            finish: str | None = None
            try:
                while True:
                    chunk = self._next(chunks)
                    if chunk is None:
                        break
                    timer.tick()
                    if prompt_tokens is None:
                        # The first chunk comes once the prompt is evaluated and one token sampled:
                        # everything in the context now is prompt.
                        prompt_tokens = int(llama.n_tokens)
                    choice = chunk["choices"][0]
                    text = choice.get("delta", {}).get("content") or choice.get("text") or ""
                    finish = choice.get("finish_reason") or finish
                    if text:
                        piece = ChatGenerationChunk(message=AIMessageChunk(content=text))
                        if run_manager:
                            run_manager.on_llm_new_token(text, chunk=piece)
                        yield piece
                usage = self._usage(prompt_tokens, int(llama.n_tokens), finish)
            finally:
                chunks.close()
        last = AIMessageChunk(
            content="",
            usage_metadata=usage,
            response_metadata={
                "finish_reason": finish,
                "model_name": self.model_name,
                "model_provider": "llama-cpp",
            },
            chunk_position="last",
        )
        yield ChatGenerationChunk(message=last)

    def _continue(
        self, llama: Any, chats: list[dict[str, str]], prefix: str, params: dict[str, Any]
    ) -> Iterator[dict[str, Any]]:
        """The reply's continuation after ``prefix``: the chat rendered by the model's own template
        (the one ``create_chat_completion`` uses, so the cached prompt is shared), the assistant's
        turn opened, the prefix written into it, and plain completion from there."""
        if self._formatter is None:
            self._formatter = _chat_formatter(llama)
        rendered = self._formatter(messages=chats)
        # as the chat handler does: no BOS where the template wrote the special tokens itself
        tokens = llama.tokenize(
            (rendered.prompt + prefix).encode("utf-8"), add_bos=not rendered.added_special, special=True
        )
        ends = [rendered.stop] if isinstance(rendered.stop, str) else list(rendered.stop or [])
        params = {**params, "stop": [*params.get("stop", []), *ends]}
        params.pop("response_format", None)
        return llama.create_completion(prompt=tokens, stream=True, **params)

    def _next(self, chunks: Iterator[dict[str, Any]]) -> dict[str, Any] | None:
        """The next chunk from llama.cpp, its failures (a decode error, a prompt too long) made ours."""
        try:
            return next(chunks)
        except StopIteration:
            return None
        except (RuntimeError, ValueError, OSError) as exc:
            raise LLMUnavailableError(f"local LLM ({self.role}) failed: {exc}") from exc

    @staticmethod
    def _usage(prompt_tokens: int | None, n_tokens: int, finish: str | None) -> UsageMetadata | None:
        """Token counts from the context size (output can be off by one: the last token sampled
        is evaluated only when generation goes on)."""
        if prompt_tokens is None:
            return None
        output = max(0, n_tokens - prompt_tokens + (1 if finish == "length" else 0))
        return UsageMetadata(
            input_tokens=prompt_tokens, output_tokens=output, total_tokens=prompt_tokens + output
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return generate_from_stream(self._stream(messages, stop, run_manager, **kwargs))

    # ----------------------------------------------------------------------------------------
    # Tools and structured output

    def bind_tools(
        self,
        tools: Sequence[Any],
        *,
        tool_choice: str | dict[str, Any] | bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """The model itself: tools are not sent and answers never contain tool calls.

        Small local models produce broken tool calls more often than useful ones, so the agent
        doesn't bind tools on this backend; should anything else do so, it gets plain answers
        rather than an exception. A *forced* tool choice can't be honoured and raises.
        """
        refuse_forced_tool_choice(tool_choice, "local llama.cpp")
        if tools:
            log.debug(
                "llm[%s]: bind_tools ignored (%d tools): the local backend answers in text",
                self.role,
                len(tools),
            )
        return self.bind(**kwargs) if kwargs else self  # type: ignore[return-value]

    def with_structured_output(
        self, schema: Schema, *, include_raw: bool = False, **kwargs: Any
    ) -> Runnable[LanguageModelInput, Any]:
        """Answers as ``schema`` through a JSON-schema grammar at temperature 0.

        The grammar makes even a tiny model emit JSON of the right shape; an answer cut short by
        ``max_tokens``, or one that fails validation, raises ``OutputParserException``.
        """
        kwargs.pop("method", None)  # one method here: the grammar
        if kwargs:
            raise ValueError(f"unsupported arguments: {sorted(kwargs)}")
        response_format = {"type": "json_object", "schema": json_schema_of(schema)}
        bound = self.bind(response_format=response_format, temperature=0)
        return with_json_parser(bound, schema, include_raw)


def _chat_formatter(llama: Any) -> Any:
    """The formatter ``create_chat_completion`` renders this model's chats with: the GGUF's own
    template, or, for a file without one, the built-in format llama-cpp-python picked for it."""
    from llama_cpp import llama_chat_format

    template = llama.metadata.get("tokenizer.chat_template")
    if template:
        eos, bos = llama.token_eos(), llama.token_bos()
        return llama_chat_format.Jinja2ChatFormatter(
            template=template,
            eos_token=llama._model.token_get_text(eos) if eos != -1 else "",
            bos_token=llama._model.token_get_text(bos) if bos != -1 else "",
        )
    name = llama.chat_format or "llama-2"
    for candidate in (name.replace("-", ""), name.replace("-", "_")):
        if (formatter := getattr(llama_chat_format, f"format_{candidate}", None)) is not None:
            return formatter
    raise LLMUnavailableError(f"no chat format to continue a reply in (the model's is {name!r})")

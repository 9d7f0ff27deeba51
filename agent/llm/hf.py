"""The ``transformers`` backend: a Hugging Face model folder run in-process, as a LangChain chat model.

For operators who have a model as a Hugging Face folder (safetensors + tokenizer with a chat
template) rather than a GGUF, and ideally a GPU: on CPU it is several times slower than llama.cpp
(Qwen2.5-1.5B through transformers: 2–3 tokens/s on 2 cores against 17–19). Loading is offline
(``local_files_only``); torch and transformers are imported only when a model is loaded, so the
other backends never pay for them.

The rules are those of :mod:`agent.llm.local`: one instance per role, lazy load guarded by a
lock, one generation at a time per instance, ``timeout_s`` for the first and every next piece of
text (``generate`` runs in a worker thread feeding a ``TextIteratorStreamer``; a timed-out
generation is told to stop at its next token and keeps the model locked until it has), no
retries, no tool calls. Structured output puts the JSON schema in the prompt and parses the first
JSON object of the answer (there is no grammar-constrained sampling here).
"""

from __future__ import annotations

import json
import logging
import queue
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
from agent.llm.messages import to_chat_dicts
from agent.llm.timeouts import StallTimer
from common.errors import ModelMissingError

__all__ = ["TransformersChatModel", "json_instruction"]

log = logging.getLogger(__name__)

_threads_set = False
_threads_lock = threading.Lock()


def _torch_one_thread(torch: Any) -> None:
    """One intra-op thread, once per process: on two cores, more starves the embedder and the bot."""
    global _threads_set
    with _threads_lock:
        if not _threads_set:
            torch.set_num_threads(1)
            _threads_set = True


def json_instruction(schema: dict[str, Any]) -> str:
    """What the model is told when it must answer in ``schema`` (no grammar to force it here)."""
    return "Answer with one JSON object only, no other text, that follows this JSON Schema:\n" + json.dumps(
        schema, ensure_ascii=False
    )


def _with_instruction(chats: list[dict[str, str]], instruction: str) -> list[dict[str, str]]:
    """The instruction appended to the last user message (or as a new one): closest to the answer."""
    out = [dict(c) for c in chats]
    if out and out[-1]["role"] == "user":
        out[-1]["content"] = f"{out[-1]['content']}\n\n{instruction}"
    else:
        out.append({"role": "user", "content": instruction})
    return out


class TransformersChatModel(BaseChatModel):
    """A causal LM from a local Hugging Face folder, with its tokenizer's chat template."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model_dir: Path
    role: str = "chat"
    temperature: float = 0.7
    max_tokens: int = 200
    timeout_s: float = 120.0
    device: str | None = None
    """``cpu``, ``cuda``, ...; ``None``: CUDA when available, else CPU."""
    seed: int | None = None

    _model: Any = PrivateAttr(default=None)
    _tokenizer: Any = PrivateAttr(default=None)
    _device: str = PrivateAttr(default="cpu")
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def model_post_init(self, context: Any, /) -> None:
        folder = Path(self.model_dir)
        if not folder.is_dir() or not (folder / "config.json").is_file():
            raise ModelMissingError(
                f"no Hugging Face model folder at {folder} (a folder with config.json, weights and a "
                "tokenizer): point DORA_LLM_MODEL at one for DORA_LLM=transformers"
            )

    @property
    def _llm_type(self) -> str:
        return "transformers"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_dir": str(self.model_dir), "role": self.role}

    @property
    def model_name(self) -> str:
        return Path(self.model_dir).name

    # ----------------------------------------------------------------------------------------
    # Loading

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> None:
        """Load the model now (at start-up, to fail early)."""
        with self._lock:
            self._load_locked()

    def _load_locked(self) -> tuple[Any, Any]:
        if self._model is not None:
            return self._model, self._tokenizer
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as exc:
            raise LLMUnavailableError(
                "DORA_LLM=transformers needs torch and transformers: install DORA with the 'st' extra "
                "(`make setup` does)"
            ) from exc
        _torch_one_thread(torch)
        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(self.model_dir), local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(
                str(self.model_dir),
                local_files_only=True,
                # half precision is slow (or unsupported) on CPU; on a GPU keep the checkpoint's own
                dtype=torch.float32 if device == "cpu" else "auto",
            )
        except (OSError, ValueError, RuntimeError) as exc:
            raise LLMUnavailableError(f"could not load the model folder {self.model_dir}: {exc}") from exc
        if not getattr(tokenizer, "chat_template", None):
            raise LLMUnavailableError(
                f"the tokenizer in {self.model_dir} has no chat template: use an instruction-tuned model"
            )
        model.to(device)
        model.eval()
        self._model, self._tokenizer, self._device = model, tokenizer, device
        log.info("llm[%s]: loaded %s on %s", self.role, self.model_name, device)
        return model, tokenizer

    def get_token_ids(self, text: str) -> list[int]:
        tokenizer = self._tokenizer
        if tokenizer is None:
            with self._lock:
                _, tokenizer = self._load_locked()
        return list(tokenizer.encode(text, add_special_tokens=False))

    # ----------------------------------------------------------------------------------------
    # Generation

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        timer = StallTimer(self.timeout_s, f"transformers LLM ({self.role})")
        chats = to_chat_dicts(messages)
        if kwargs.get("json_schema") is not None:
            chats = _with_instruction(chats, json_instruction(kwargs["json_schema"]))
        wait = timer.remaining()
        if not (self._lock.acquire(timeout=wait) if wait > 0 else self._lock.acquire(blocking=False)):
            raise timer.expired()
        handed_over = False  # once the worker runs, it releases the lock when generation ends
        try:
            model, tokenizer = self._load_locked()
            worker = _Generation(self, model, tokenizer, chats, stop, kwargs)
            worker.start(on_done=self._lock.release)
            handed_over = True
            yield from self._relay(worker, timer, run_manager)
        finally:
            if not handed_over:
                self._lock.release()

    def _relay(
        self, worker: _Generation, timer: StallTimer, run_manager: CallbackManagerForLLMRun | None
    ) -> Iterator[ChatGenerationChunk]:
        """Pieces of text from the worker to the caller, under the stall timer; stop the worker on exit."""
        text = ""
        stopped = False
        try:
            while not stopped:
                try:
                    piece = worker.next_text(max(timer.remaining(), 1e-3))
                except queue.Empty:
                    raise timer.expired() from None
                if piece is None:
                    break
                timer.tick()
                cut = min((i for i in (f"{text}{piece}".find(s) for s in worker.stop) if i != -1), default=-1)
                if cut != -1:  # a stop string: the answer ends where it starts, the worker is cancelled
                    # (checked on text rather than with transformers' stop_strings, which fail on
                    # some tokenizers' vocabularies)
                    piece, stopped = f"{text}{piece}"[:cut][len(text) :], True
                if not piece:
                    continue
                text += piece
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
                if run_manager:
                    run_manager.on_llm_new_token(piece, chunk=chunk)
                yield chunk
        finally:
            worker.cancel()
        worker.done.wait(timeout=max(timer.remaining(), 1.0))
        if worker.error is not None:
            raise LLMUnavailableError(
                f"transformers LLM ({self.role}) failed: {worker.error}"
            ) from worker.error
        finish = "stop" if stopped or worker.new_tokens < worker.max_new_tokens else "length"
        usage = UsageMetadata(
            input_tokens=worker.prompt_tokens,
            output_tokens=worker.new_tokens,
            total_tokens=worker.prompt_tokens + worker.new_tokens,
        )
        last = AIMessageChunk(
            content="",
            usage_metadata=usage,
            response_metadata={
                "finish_reason": finish,
                "model_name": self.model_name,
                "model_provider": "transformers",
            },
            chunk_position="last",
        )
        yield ChatGenerationChunk(message=last)

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
        """The model itself: tools are not sent, answers never contain tool calls (as on llama.cpp)."""
        refuse_forced_tool_choice(tool_choice, "transformers")
        return self.bind(**kwargs) if kwargs else self  # type: ignore[return-value]

    def with_structured_output(
        self, schema: Schema, *, include_raw: bool = False, **kwargs: Any
    ) -> Runnable[LanguageModelInput, Any]:
        """Answers as ``schema``: the JSON Schema in the prompt, greedy decoding, the first JSON
        object parsed; anything else raises ``OutputParserException``."""
        kwargs.pop("method", None)
        if kwargs:
            raise ValueError(f"unsupported arguments: {sorted(kwargs)}")
        bound = self.bind(json_schema=json_schema_of(schema), temperature=0)
        return with_json_parser(bound, schema, include_raw)


class _Generation:
    """One ``model.generate`` in a worker thread, feeding a ``TextIteratorStreamer``."""

    def __init__(
        self,
        owner: TransformersChatModel,
        model: Any,
        tokenizer: Any,
        chats: list[dict[str, str]],
        stop: list[str] | None,
        kwargs: dict[str, Any],
    ) -> None:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        self._cancelled = threading.Event()
        self.stop = [s for s in stop or [] if s]
        self.error: BaseException | None = None
        self.done = threading.Event()
        self.new_tokens = 0
        try:
            encoded = tokenizer.apply_chat_template(
                chats, add_generation_prompt=True, return_tensors="pt", return_dict=True
            )
        except Exception as exc:  # a template that rejects this conversation (roles out of order...)
            raise LLMUnavailableError(f"the chat template of {owner.model_dir} failed: {exc}") from exc
        inputs = {k: v.to(owner._device) for k, v in encoded.items()}
        self.prompt_tokens = int(inputs["input_ids"].shape[-1])
        self.max_new_tokens = int(kwargs.get("max_tokens") or owner.max_tokens)
        self.streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
        cancelled = self._cancelled

        class _Cancel(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **_: Any) -> Any:
                return torch.full(
                    (input_ids.shape[0],), cancelled.is_set(), dtype=torch.bool, device=input_ids.device
                )

        temperature = kwargs.get("temperature", owner.temperature)
        sampling: dict[str, Any] = (
            {"do_sample": True, "temperature": float(temperature)}
            if temperature and temperature > 0
            else {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        )
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self._torch = torch
        self._model = model
        self._seed = kwargs.get("seed", owner.seed)
        self._gen_kwargs = {
            **inputs,
            "max_new_tokens": self.max_new_tokens,
            "streamer": self.streamer,
            "stopping_criteria": StoppingCriteriaList([_Cancel()]),
            "pad_token_id": pad,
            **sampling,
        }

    def start(self, on_done: Any) -> None:
        def run() -> None:
            try:
                if self._seed is not None:
                    self._torch.manual_seed(self._seed)
                with self._torch.inference_mode():
                    out = self._model.generate(**self._gen_kwargs)
                self.new_tokens = int(out.shape[-1]) - self.prompt_tokens
            except BaseException as exc:
                self.error = exc
                self.streamer.end()  # wake the reader: generate() never got to end the stream
            finally:
                self.done.set()
                on_done()

        threading.Thread(target=run, name="transformers-generate", daemon=True).start()

    def next_text(self, timeout: float) -> str | None:
        """The next piece of text, ``None`` at the end; ``queue.Empty`` after ``timeout`` seconds."""
        self.streamer.timeout = timeout
        try:
            return next(self.streamer)
        except StopIteration:
            return None

    def cancel(self) -> None:
        self._cancelled.set()

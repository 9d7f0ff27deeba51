"""A small OpenAI-compatible chat server on loopback, for testing the ``openai`` backend for real.

It speaks just enough of ``POST /v1/chat/completions`` for ``langchain_openai.ChatOpenAI`` and
the ``openai`` client to run unmodified against it: JSON answers and SSE streams, text and tool
calls (streamed as argument fragments, the way real servers do). Switches on the server make it
misbehave the ways backends do in production: answer 5xx, drop the connection, stall between
chunks, send tool arguments that are not JSON. Every request body is recorded so tests can check
what was sent.

Stdlib only (``http.server`` in a background thread); each instance takes a free port.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

__all__ = ["OpenAIServer"]


class OpenAIServer:
    """Scriptable OpenAI-compatible server; use as a context manager or call start()/stop().

    Switches (plain attributes; change them between calls):

    - ``text``: the assistant's answer when no tools are requested, streamed word by word.
    - ``tool_arguments``: the arguments of the tool call answered when the request has ``tools``:
      a dict (sent as JSON) or a str (sent verbatim, so it can be invalid JSON).
    - ``ignore_tools``: answer ``text`` even when tools are offered (a model ignoring the schema).
    - ``status`` / ``fail_times``: answer ``status`` (e.g. 503) to the next ``fail_times``
      requests (``None``: every request), with ``retry-after-ms: 1`` so clients retry at once.
    - ``drop_connection``: close the connection without answering (a crashed backend).
    - ``chunk_delay_s``: sleep before each streamed chunk after the first (a stalled stream).
    """

    def __init__(self, model: str = "test-model") -> None:
        self.model = model
        self.text = "Привет! Я рядом, рассказывай."
        self.tool_arguments: dict[str, Any] | str = {}
        self.ignore_tools = False
        self.status: int | None = None
        self.fail_times: int | None = None
        self.drop_connection = False
        self.chunk_delay_s = 0.0
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> OpenAIServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="openai-test-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the port (connections to it are refused from now on)."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ----------------------------------------------------------------------------------------
    # What the handler asks

    def _record(self, body: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(body)

    def _failure_status(self) -> int | None:
        """The status to fail this request with, counting down ``fail_times``."""
        with self._lock:
            if self.status is None:
                return None
            if self.fail_times is None:
                return self.status
            if self.fail_times <= 0:
                return None
            self.fail_times -= 1
            return self.status

    def _tool_arguments_text(self) -> str:
        args = self.tool_arguments
        return args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)


def _pieces(text: str, size: int = 0) -> list[str]:
    """Words with their trailing spaces (or fixed-size slices), in order: what a stream sends."""
    if size:
        return [text[i : i + size] for i in range(0, len(text), size)] or [""]
    return re.findall(r"\S+\s*|\s+", text) or [""]


def _handler_for(server: OpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.0: a streamed answer ends when the connection closes; no chunked encoding needed.
        protocol_version = "HTTP/1.0"

        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

        def do_GET(self) -> None:
            if self.path.rstrip("/").endswith("/models"):
                self._send_json(200, {"object": "list", "data": [{"id": server.model, "object": "model"}]})
            else:
                self._send_json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw or b"{}")
            except json.JSONDecodeError:
                self._send_json(
                    400, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}}
                )
                return
            server._record(body)
            if server.drop_connection:
                self.close_connection = True
                self.connection.close()
                return
            status = server._failure_status()
            if status is not None:
                self._send_json(
                    status,
                    {"error": {"message": f"simulated {status}", "type": "server_error"}},
                    headers={"retry-after-ms": "1"},
                )
                return
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._send_json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
                return
            if body.get("stream"):
                self._stream(body)
            else:
                self._complete(body)

        # ------------------------------------------------------------------------------------

        def _send_json(
            self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
        ) -> None:
            data = json.dumps(payload, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def _tool_name(self, body: dict[str, Any]) -> str | None:
            tools = body.get("tools") or []
            if not tools or server.ignore_tools:
                return None
            choice = body.get("tool_choice")
            if isinstance(choice, dict):
                return str(choice["function"]["name"])
            return str(tools[0]["function"]["name"])

        def _usage(self, body: dict[str, Any], completion: str) -> dict[str, int]:
            prompt = sum(len(str(m.get("content") or "").split()) for m in body.get("messages", []))
            output = len(completion.split())
            return {"prompt_tokens": prompt, "completion_tokens": output, "total_tokens": prompt + output}

        def _complete(self, body: dict[str, Any]) -> None:
            name = self._tool_name(body)
            if name is None:
                message: dict[str, Any] = {"role": "assistant", "content": server.text}
                finish, completion = "stop", server.text
            else:
                args = server._tool_arguments_text()
                call = {"id": "call_1", "type": "function", "function": {"name": name, "arguments": args}}
                message = {"role": "assistant", "content": None, "tool_calls": [call]}
                finish, completion = "tool_calls", args
            self._send_json(
                200,
                {
                    "id": "chatcmpl-test",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": server.model,
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                    "usage": self._usage(body, completion),
                },
            )

        def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {
                "id": "chatcmpl-test",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": server.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }

        def _events(self, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
            name = self._tool_name(body)
            if name is None:
                yield self._chunk({"role": "assistant", "content": ""})
                for piece in _pieces(server.text):
                    yield self._chunk({"content": piece})
                yield self._chunk({}, "stop")
                completion = server.text
            else:
                head = {
                    "index": 0,
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": name, "arguments": ""},
                }
                yield self._chunk({"role": "assistant", "content": None, "tool_calls": [head]})
                completion = server._tool_arguments_text()
                for piece in _pieces(completion, size=7):
                    yield self._chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
                yield self._chunk({}, "tool_calls")
            if (body.get("stream_options") or {}).get("include_usage"):
                usage = self._chunk({})
                usage["choices"] = []
                usage["usage"] = self._usage(body, completion)
                yield usage

        def _stream(self, body: dict[str, Any]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            try:
                for i, event in enumerate(self._events(body)):
                    if i and server.chunk_delay_s:
                        time.sleep(server.chunk_delay_s)
                    self.wfile.write(f"data: {json.dumps(event, ensure_ascii=False)}\n\n".encode())
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test): nothing to do

    return Handler

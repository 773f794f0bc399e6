"""A scriptable OpenAI-compatible HTTP server on loopback, for the error paths of the
server engine (refused, garbage, 5xx, cut streams, loading) and the plumbing of
several servers. Never for model output: the real server tests use llama-server.

`FakeServer(answer=...)` answers /v1/completions with `answer(body)` streamed as
server-sent events; `fail(n, how)` makes the next n completion requests fail in one
of the ways of FAILURES; `requests` records (path, body) of every request.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

FAILURES = ("500", "garbage", "html", "close", "error-event", "bad-json-event", "400", "context")


def summary_answer(body: dict[str, Any]) -> str:
    """A deterministic answer naming the unit the prompt is about (its last
    `Code:` line), so dependent prompts change when their inputs do."""
    prompt = body.get("prompt") or ""
    if not isinstance(prompt, str):
        prompt = " ".join(map(str, prompt))
    name = prompt.rsplit("Code:", 1)[-1].split("\n", 1)[0].strip().removesuffix(", documented:")
    return f" Summary of {name}."


class FakeServer:
    def __init__(
        self,
        *,
        model: str = "fake-model",
        models: list[str] | None = None,
        answer: Callable[[dict[str, Any]], str] = summary_answer,
        n_ctx: int | None = 4096,
        llama_cpp: bool = False,
        loading: int = 0,
        delay: float = 0.0,
    ) -> None:
        self.model = model
        self.models = models or [model]
        self.answer = answer
        self.n_ctx = n_ctx
        self.llama_cpp = llama_cpp
        self.loading = loading  # /health answers 503 this many times first
        self.delay = delay
        self.requests: list[tuple[str, Any]] = []
        self._failures: deque[str] = deque()
        self._lock = threading.Lock()
        self.in_flight = 0
        self.most_in_flight = 0
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def fail(self, n: int, how: str) -> None:
        assert how in FAILURES
        with self._lock:
            self._failures.extend([how] * n)

    def completions(self) -> list[dict[str, Any]]:
        return [b for p, b in self.requests if p.endswith("/completions")]

    def _next_failure(self) -> str | None:
        with self._lock:
            return self._failures.popleft() if self._failures else None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any, kind: str = "application/json") -> None:
                raw = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                fake.requests.append((self.path, None))
                if self.path == "/health":
                    if fake.loading > 0:
                        fake.loading -= 1
                        self._send(503, {"error": {"message": "Loading model", "code": 503}})
                    else:
                        self._send(200, {"status": "ok"})
                elif self.path == "/v1/models":
                    entries = [{"id": m, "object": "model", **({"max_model_len": fake.n_ctx} if fake.n_ctx else {})}
                               for m in fake.models]
                    self._send(200, {"object": "list", "data": entries})
                elif self.path == "/props" and fake.llama_cpp:
                    self._send(200, {"default_generation_settings": {"n_ctx": fake.n_ctx}, "total_slots": 2,
                                     "chat_template": "", "bos_token": "<bos>", "model_path": fake.model})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                fake.requests.append((self.path, body))
                if self.path == "/tokenize":
                    if fake.llama_cpp:
                        self._send(200, {"tokens": [ord(c) for c in body.get("content", "")]})
                    else:
                        self._send(404, {"detail": "Not Found"})
                    return
                if not self.path.endswith("/completions"):
                    self._send(404, {"error": {"message": "not found"}})
                    return
                with fake._lock:
                    fake.in_flight += 1
                    fake.most_in_flight = max(fake.most_in_flight, fake.in_flight)
                self.counted = True
                try:
                    self._complete(body)
                finally:
                    self._done()

            def _done(self) -> None:
                """The request is answered: no longer in flight (before its last event
                is written, so that a client's next request never overlaps it)."""
                if getattr(self, "counted", False):
                    self.counted = False
                    with fake._lock:
                        fake.in_flight -= 1

            def _complete(self, body: dict[str, Any]) -> None:
                how = fake._next_failure()
                if fake.delay:
                    time.sleep(fake.delay)
                if how == "500":
                    self._send(500, {"error": {"message": "internal trouble"}})
                    return
                if how == "400":
                    self._send(400, {"error": {"message": "unknown field 'seed'"}})
                    return
                if how == "context":
                    self._send(400, {"error": {"message": "the request exceeds the available context size"}})
                    return
                if how == "html":
                    self._send(200, b"<html><body>It works!</body></html>", "text/html")
                    return
                if how == "garbage":
                    self._send(200, {"hello": "world"})
                    return
                if how == "close":
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.end_headers()
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                if how == "error-event":
                    self.wfile.write(b'data: {"error": {"message": "slot crashed"}}\n\n')
                    return
                if how == "bad-json-event":
                    self.wfile.write(b"data: {not json\n\n")
                    return
                text = fake.answer(body)
                pieces = re.findall(r"\s*\S+", text)
                for piece in pieces:
                    event = {"choices": [{"text": piece, "index": 0, "finish_reason": None}], "model": fake.model}
                    self.wfile.write(b"data: " + json.dumps(event).encode() + b"\n\n")
                done = {"choices": [{"text": "", "index": 0, "finish_reason": "stop"}], "model": fake.model,
                        "usage": {"prompt_tokens": 100, "completion_tokens": len(pieces), "total_tokens": 100 + len(pieces),
                                  "prompt_tokens_details": {"cached_tokens": 60}}}
                self._done()
                self.wfile.write(b"data: " + json.dumps(done).encode() + b"\n\ndata: [DONE]\n\n")

        return Handler

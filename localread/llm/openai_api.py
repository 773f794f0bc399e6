"""HTTP exchanges with an OpenAI-compatible server, as llm/server.py needs them: one
request per connection (`Request`), failures sorted into those worth retrying
(`Transient`: refused, reset, timed out, 5xx, 429) and final ones (`ServerError`,
`PromptError`), a retry loop with backoff over a time window (`Retry`), and the
events of an answer (`events`: server-sent `data: {...}` lines until `data: [DONE]`,
or the one JSON object of an answer that was not streamed).

Standard library only: a new http.client connection per request, so any number of
threads may each run one.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from localread.errors import LocalreadError, PromptTooLong

# Seconds to wait for a TCP connection, and for each read of an answer (a streamed
# answer's events come at least this often while the server works; a long prompt on
# a busy CPU server takes a while before the first one).
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 300.0
# Backoff between retries of a failing server: first wait, most.
BACKOFF_S = (0.5, 8.0)


class ServerError(LocalreadError):
    """A server answered something unusable, or refused the request: one line."""


class PromptError(ServerError, PromptTooLong):
    """This prompt cannot be run (it does not fit the context); the server is fine."""


class Transient(Exception):
    """A failure worth retrying (the server may be restarting or busy)."""


class Down(Exception):
    """A server failed for a whole retry window; the message says why."""


@dataclass(frozen=True, slots=True)
class Answer:
    """A whole HTTP answer."""

    status: int
    content_type: str
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def snippet(self) -> str:
        """The start of the body on one line, for messages."""
        text = self.body.decode("utf-8", errors="replace")
        return " ".join(text.split())[:120] or "(empty)"

    def error_message(self) -> str:
        """The error an OpenAI-style body carries (`{"error": {"message": ...}}`,
        vLLM's `detail`), else the start of the body."""
        data = self.json()
        if isinstance(data, dict):
            error = data.get("error", data.get("detail", data.get("message")))
            if isinstance(error, dict):
                error = error.get("message")
            if isinstance(error, str) and error:
                return " ".join(error.split())[:200]
        return self.snippet()


def transient_status(status: int) -> bool:
    """Statuses a server gives while it is loading, overloaded or restarting."""
    return status in (408, 429) or status >= 500


def describe(exc: BaseException) -> str:
    """A connection failure in a few words."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionResetError | http.client.RemoteDisconnected | BrokenPipeError):
        return "connection closed by the server"
    if isinstance(exc, http.client.IncompleteRead):
        return "answer cut off"
    return str(exc) or type(exc).__name__


class Request:
    """One HTTP exchange with the server at url (its base URL; a path prefix such as
    a reverse proxy's is kept)."""

    def __init__(self, url: str, method: str, path: str, body: Any = None) -> None:
        self.url, self.method, self.path = url, method, path
        self.body = None if body is None else json.dumps(body).encode("utf-8")
        self.conn: http.client.HTTPConnection | None = None

    def open(self) -> http.client.HTTPResponse:
        """Send the request; the response, its status not judged yet. Raises
        Transient, or ServerError for a host name that does not resolve."""
        parts = urlsplit(self.url)
        cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        self.conn = cls(parts.hostname or "", parts.port, timeout=CONNECT_TIMEOUT_S)
        headers = {"Accept": "application/json, text/event-stream"}
        if self.body is not None:
            headers["Content-Type"] = "application/json"
        try:
            self.conn.connect()
            if self.conn.sock is not None:
                self.conn.sock.settimeout(READ_TIMEOUT_S)
            self.conn.request(self.method, parts.path.rstrip("/") + self.path, body=self.body, headers=headers)
            return self.conn.getresponse()
        except socket.gaierror as exc:
            self.close()
            raise ServerError(f"server {self.url}: cannot resolve {parts.hostname} ({exc.strerror})") from None
        except http.client.BadStatusLine as exc:
            self.close()
            if isinstance(exc, http.client.RemoteDisconnected):
                raise Transient(describe(exc)) from None
            raise ServerError(f"server {self.url} does not answer HTTP ({exc!r:.80})") from None
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise Transient(describe(exc)) from None

    def read(self) -> Answer:
        """The whole answer. Raises Transient or ServerError."""
        response = self.open()
        try:
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise Transient(describe(exc)) from None
        finally:
            self.close()
        return Answer(response.status, response.getheader("Content-Type", ""), body)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def raise_for(url: str, answer: Answer, what: str) -> None:
    """Judge an answer's status: fine (200), worth retrying (Transient), the prompt's
    fault (PromptError: it does not fit the context), or the server's (ServerError)."""
    if answer.status == 200:
        return
    message = answer.error_message()
    if transient_status(answer.status):
        raise Transient(f"HTTP {answer.status} on {what}: {message}")
    if answer.status == 400 and "context" in message.lower():
        raise PromptError(
            f"server {url}: the prompt does not fit the model context ({message}); lower "
            "max_tokens, or give the server a larger context per slot"
        )
    raise ServerError(f"server {url}: {what} answered {answer.status}: {message}")


class Retry:
    """Call again on Transient failures, with backoff, until `window` seconds have
    passed since the first one; then raise Down. on_wait(reason) is told once, at
    the first failure."""

    def __init__(self, window: float, on_wait: Callable[[str], None] | None = None) -> None:
        self.window = window
        self.on_wait = on_wait

    def __call__(self, call: Callable[[], Any]) -> Any:
        first: float | None = None
        delay = BACKOFF_S[0]
        while True:
            try:
                return call()
            except Transient as exc:
                now = time.monotonic()
                if first is None:
                    first = now
                    if self.on_wait is not None:
                        self.on_wait(str(exc))
                if now - first >= self.window:
                    raise Down(str(exc)) from None
                time.sleep(min(delay, max(first + self.window - now, 0.0)))
                delay = min(delay * 2, BACKOFF_S[1])


def events(url: str, response: http.client.HTTPResponse) -> Iterator[dict[str, Any]]:
    """The JSON objects of an answer: each server-sent event's `data:` (until
    `data: [DONE]`, or the end of a stream whose answer said it was finished), or the
    one object of an answer that was not streamed. Raises Transient when the
    connection fails or the stream stops short, ServerError for anything that is not
    an OpenAI completion (an `error` event included)."""
    kind = response.getheader("Content-Type", "")
    try:
        if "text/event-stream" not in kind:
            answer = Answer(200, kind, response.read())
            data = answer.json()
            if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
                raise ServerError(
                    f"server {url} answered something that is not an OpenAI completion: {answer.snippet()}"
                )
            yield data
            return
        finished = False  # a choice said why it ended
        while True:
            line = response.readline()
            if not line:
                if finished:
                    return  # no `[DONE]`, but the answer was complete
                raise Transient("the answer stream ended before the answer did")
            text = line.decode("utf-8", errors="replace").strip()
            if not text.startswith("data:"):
                continue  # blank separators, `event:` names, `:` keep-alive comments
            payload = text[len("data:"):].strip()
            if payload == "[DONE]":
                return
            try:
                data = json.loads(payload)
            except ValueError:
                raise ServerError(f"server {url} streamed something that is not JSON: {payload[:120]}") from None
            if not isinstance(data, dict):
                raise ServerError(f"server {url} streamed something that is not a completion: {payload[:120]}")
            if "error" in data:
                error = data["error"]
                message = error.get("message") if isinstance(error, dict) else error
                raise ServerError(f"server {url} failed the request: {message}")
            choices = data.get("choices")
            finished = finished or (isinstance(choices, list) and any(
                isinstance(c, dict) and c.get("finish_reason") for c in choices))
            yield data
    except (OSError, http.client.HTTPException) as exc:
        raise Transient(describe(exc)) from None

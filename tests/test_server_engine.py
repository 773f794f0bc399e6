"""llm/server.py and llm/openai_api.py against a scripted HTTP server on loopback
(tests/fake_server.py): probing, the request a completion sends, retries, failover
between servers, and one clear error for each way a server can fail. The real
llama.cpp server is in test_server.py."""

from __future__ import annotations

import logging
import socket
import threading
from pathlib import Path

import pytest

from localread.config import Settings, load_settings
from localread.errors import LocalreadError, PromptTooLong
from localread.llm.engine import DEFAULT_SEED, SAMPLE_TEMPERATURE, SAMPLE_TOP_P, Prompt, open_engine
from localread.llm.models import ChatStyle
from localread.llm.server import (
    ServerEngine,
    ServerError,
    ServerUnavailable,
    estimate_tokens,
    open_server_engine,
    probe_server,
    server_model_sha256,
)
from tests.fake_server import FakeServer
from tests.llama_server import free_port


def engine_on(*servers: FakeServer, window: float = 2.0, **kw: object) -> ServerEngine:
    return open_server_engine(Settings(server=tuple(s.url for s in servers), server_timeout=window, **kw))


def test_probe_reads_model_context_and_flavor() -> None:
    with FakeServer(model="org/coder-7b", n_ctx=8192) as fake:
        info = probe_server(fake.url + "/v1/", window=1)
        assert (info.url, info.model, info.n_ctx, info.flavor, info.slots) == (
            fake.url, "org/coder-7b", 8192, "openai", None)
        assert info.chat_style is ChatStyle.CHAT
    with FakeServer(llama_cpp=True, n_ctx=2048) as fake:
        info = probe_server(fake.url, window=1)
        assert (info.flavor, info.n_ctx, info.slots, info.chat_style) == ("llama.cpp", 2048, 2, ChatStyle.COMPLETION)


def test_engine_identity_is_the_served_name_never_a_file_hash() -> None:
    with FakeServer(model="org/coder-7b") as fake:
        engine = engine_on(fake)
        assert engine.model.name == "org/coder-7b" and engine.model.source == "server"
        assert engine.model.sha256 == server_model_sha256("org/coder-7b") != server_model_sha256("other")
        assert engine.slots == 4 and engine.n_ctx == 4096  # DEFAULT_SLOTS; max_model_len
    with FakeServer(model="m", n_ctx=8192) as fake:
        assert engine_on(fake, n_ctx=1024, parallel=7).n_ctx == 1024
        assert engine_on(fake, parallel=7).slots == 7


def test_several_models_need_a_choice() -> None:
    with FakeServer(models=["a", "b"]) as fake:
        with pytest.raises(ServerError, match=r"serves several models \(a, b\); choose one with --model"):
            engine_on(fake)
        assert engine_on(fake, model="b").model.name == "b"
        with pytest.raises(ServerError, match="does not serve 'c'"):
            engine_on(fake, model="c")


def test_a_completion_sends_greedy_decoding_and_reads_the_usage() -> None:
    with FakeServer(answer=lambda body: " Adds two numbers.") as fake:
        engine = engine_on(fake)
        done = engine.complete(Prompt(shared="Rules.\n\n", text="Code: add\nSummary:", stop=("\n\n",)), 48, stop=["\nX"])
        assert done.text == " Adds two numbers." and done.finish_reason == "stop"
        assert (done.prompt_tokens, done.reused_tokens, done.completion_tokens) == (100, 60, 3)
        body = fake.completions()[0]
        assert body["prompt"] == "Rules.\n\nCode: add\nSummary:"
        assert (body["temperature"], body["seed"], body["max_tokens"], body["stop"]) == (0.0, DEFAULT_SEED, 48, ["\n\n", "\nX"])
        assert body["model"] == "fake-model" and body["stream"] is True
        streamed = engine.stream("Say", 8)
        assert "".join(streamed) == " Adds two numbers." and streamed.result.completion_tokens == 3


def test_sampled_answers_send_one_seeded_request_each() -> None:
    with FakeServer(answer=lambda body: f" Answer {body['seed']}.") as fake:
        engine = engine_on(fake)
        drawn = engine.sample(Prompt(shared="Rules.\n\n", text="Code: add\nSummary:", stop=("\n\n",)), 48, 3)
        assert [c.text for c in drawn] == [f" Answer {DEFAULT_SEED + i}." for i in (1, 2, 3)]
        bodies = fake.completions()
        assert [(b["temperature"], b["top_p"], b["seed"]) for b in bodies] == [
            (SAMPLE_TEMPERATURE, SAMPLE_TOP_P, DEFAULT_SEED + i) for i in (1, 2, 3)
        ]
        assert all(b["prompt"] == "Rules.\n\nCode: add\nSummary:" and b["stop"] == ["\n\n"] for b in bodies)
        engine.complete("Say", 8)  # the greedy answer after them is greedy again
        assert fake.completions()[-1]["temperature"] == 0.0 and "top_p" not in fake.completions()[-1]


def test_a_chat_prompt_goes_to_chat_completions_as_two_messages() -> None:
    with FakeServer() as fake:
        engine = engine_on(fake)
        engine.complete(Prompt(shared="You explain code.", text="Explain f.", style=ChatStyle.CHAT), 16)
        path, body = fake.requests[-1]
        assert path == "/v1/chat/completions"
        assert body["messages"] == [{"role": "system", "content": "You explain code."},
                                    {"role": "user", "content": "Explain f."}]


def test_llama_cpp_servers_get_token_ids_tokenized_part_by_part() -> None:
    with FakeServer(llama_cpp=True) as fake:
        engine = engine_on(fake)
        engine.complete(Prompt(shared="ab", text="<eos>c"), 8)
        tokenized = [b for p, b in fake.requests if p == "/tokenize"]
        assert tokenized == [{"content": "ab", "add_special": True, "parse_special": False},
                             {"content": "<eos>c", "add_special": False, "parse_special": False}]
        assert fake.completions()[-1]["prompt"] == [ord(c) for c in "ab<eos>c"]
        assert engine.count_tokens(Prompt(shared="ab", text="cd")) == 4
        with pytest.raises(PromptTooLong, match="does not fit the model context"):
            engine.complete("x" * 4090, 48)  # counted before sending


def test_token_counts_are_estimated_where_the_server_cannot_count() -> None:
    with FakeServer() as fake:
        engine = engine_on(fake)
        text = "def f(x):\n    return x + 1\n"
        assert engine.count_tokens(text) == estimate_tokens(text) > len(text) // 3


def test_transient_failures_are_retried_and_the_answer_comes(caplog: pytest.LogCaptureFixture) -> None:
    with FakeServer() as fake:
        engine = engine_on(fake, window=10)
        fake.fail(1, "500")
        fake.fail(1, "close")
        assert engine.complete("Code: f\nSummary:", 8).text == " Summary of f."
        assert len(fake.completions()) == 3


@pytest.mark.parametrize(("how", "message"), [
    ("garbage", r"answered something that is not an OpenAI completion: \{\"hello\""),
    ("html", r"not an OpenAI completion: <html><body>It works!"),
    ("error-event", r"failed the request: slot crashed"),
    ("bad-json-event", r"streamed something that is not JSON"),
    ("400", r"POST /v1/completions answered 400: unknown field 'seed'"),
])
def test_a_server_that_answers_garbage_is_one_line(how: str, message: str) -> None:
    with FakeServer() as fake:
        engine = engine_on(fake)
        fake.fail(1, how)
        with pytest.raises(ServerError, match=message) as error:
            engine.complete("Code: f\nSummary:", 8)
        assert "\n" not in str(error.value) and fake.url in str(error.value)


def test_a_prompt_too_long_for_the_server_is_the_prompts_fault_not_the_servers() -> None:
    with FakeServer() as fake:
        engine = engine_on(fake)
        fake.fail(1, "context")
        with pytest.raises(PromptTooLong, match="does not fit the model context"):
            engine.complete("Code: f\nSummary:", 8)
        assert engine.complete("Code: f\nSummary:", 8).text == " Summary of f."  # still up


def test_nothing_listening_is_one_line_after_the_retry_window() -> None:
    port = free_port()
    with pytest.raises(ServerUnavailable, match=rf"cannot reach server http://127.0.0.1:{port} \(connection refused, for 1 s\)"):
        probe_server(f"http://127.0.0.1:{port}", window=1)
    with pytest.raises(ServerError, match="cannot resolve"):
        probe_server("http://no-such-host.invalid:8080", window=1)


def test_a_port_that_does_not_speak_http_is_one_line() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)

    def talk_nonsense() -> None:
        for _ in range(4):
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
            conn.close()

    threading.Thread(target=talk_nonsense, daemon=True).start()
    try:
        with pytest.raises(ServerError, match="does not answer HTTP"):
            probe_server(f"http://127.0.0.1:{listener.getsockname()[1]}", window=1)
    finally:
        listener.close()


def test_a_server_loading_its_model_is_waited_for(caplog: pytest.LogCaptureFixture) -> None:
    with FakeServer(loading=2) as fake, caplog.at_level(logging.WARNING, "localread.engine"):
        assert probe_server(fake.url, window=10).model == "fake-model"
        assert f"waiting for server {fake.url} (503: Loading model)" in caplog.text


def test_two_servers_share_the_load_and_one_that_dies_is_left(caplog: pytest.LogCaptureFixture) -> None:
    with FakeServer(delay=0.2) as one, FakeServer(delay=0.2) as two:
        engine = engine_on(one, two, window=1, parallel=4)
        threads = [threading.Thread(target=engine.complete, args=(f"Code: f{i}\nSummary:", 8)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # Both servers take a share; the exact split depends on which request is
        # picked up first, which a loaded machine reorders.
        shares = sorted((len(one.completions()), len(two.completions())))
        assert sum(shares) == 8 and shares[0] >= 2, shares
        one.close()
        with caplog.at_level(logging.WARNING, "localread.engine"):
            for i in range(3):
                assert engine.complete(f"Code: g{i}\nSummary:", 8).text == f" Summary of g{i}."
        assert f"server {one.url} stopped answering (connection refused); continuing on {two.url}" in caplog.text
        assert "down" in engine.describe()
        two.close()
        with pytest.raises(ServerUnavailable, match="no model server answers: .*connection refused"):
            engine.complete("Code: h\nSummary:", 8)


def test_a_server_that_does_not_answer_at_the_start_is_left_out(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    with FakeServer() as fake, caplog.at_level(logging.WARNING, "localread.engine"):
        engine = open_server_engine(Settings(server=(f"http://127.0.0.1:{port}", fake.url), server_timeout=1))
        assert [i.url for i in engine.servers] == [fake.url]
        assert f"cannot reach server http://127.0.0.1:{port} (connection refused, for 1 s)" in caplog.text
        assert "continuing without it" in caplog.text


def test_servers_of_different_models_are_refused() -> None:
    with (FakeServer(model="a") as one, FakeServer(model="b") as two,
          pytest.raises(ServerError, match=r"the servers serve different models \(.*: a, .*: b\)")):
        engine_on(one, two)


def test_open_engine_picks_the_server_engine_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeServer() as fake:
        monkeypatch.setenv("LOCALREAD_SERVER", f"{fake.url}, {fake.url}/v1")
        settings = load_settings()
        assert settings.server == (fake.url, f"{fake.url}/v1")
        with open_engine(settings) as engine:
            assert isinstance(engine, ServerEngine) and engine.model.name == "fake-model"


def test_server_settings_from_flags_env_and_config(monkeypatch: pytest.MonkeyPatch, isolated_env: Path) -> None:
    config = isolated_env / "config.toml"
    config.write_text('server = ["http://gpu1:8000", "http://gpu2:8000/v1"]\nparallel = 16\nserver_timeout = 600\n')
    settings = load_settings()
    assert settings.server == ("http://gpu1:8000", "http://gpu2:8000/v1")
    assert (settings.parallel, settings.server_timeout) == (16, 600.0)
    monkeypatch.setenv("LOCALREAD_SERVER", "http://127.0.0.1:8080")
    monkeypatch.setenv("LOCALREAD_PARALLEL", "2")
    assert load_settings().server == ("http://127.0.0.1:8080",) and load_settings().parallel == 2
    assert load_settings(server=["http://a:1", "http://b:2"]).server == ("http://a:1", "http://b:2")
    with pytest.raises(LocalreadError, match=r"server 'localhost:8080': expected a URL such as http://127.0.0.1:8080"):
        load_settings(server=["localhost:8080"])
    with pytest.raises(LocalreadError, match=r"setting parallel \(--parallel, LOCALREAD_PARALLEL, config file\): expected 1 or more, got 0"):
        load_settings(parallel=0)
    config.write_text("server = 8080\n")
    with pytest.raises(LocalreadError, match="config file .*: server"):
        load_settings()

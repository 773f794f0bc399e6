"""Engines: the scriptable fake, the machine helpers, and (marked `model`) the llama.cpp
engine on the real default model."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from localread.config import Settings
from localread.errors import LocalreadError, PromptTooLong
from localread.llm import engine as engine_mod
from localread.llm import gguf, models
from localread.llm.engine import (
    DEFAULT_N_CTX,
    Completion,
    LlamaEngine,
    Prompt,
    choose_n_ctx,
    open_engine,
    physical_cores,
)
from localread.llm.models import ChatStyle
from tests.fakes import FakeEngine

SHARED = (
    "The following are notes about small Python functions. Each note names the "
    "function and says in one sentence what it returns.\n\n"
    "Function `add(a, b)`: returns the sum of `a` and `b`.\n\n"
)


# --------------------------------------------------------------------------- fake


def test_fake_engine_replays_answers_and_records_requests() -> None:
    fake = FakeEngine(n_ctx=200)
    fake.enqueue("It adds two numbers.\n\nMore text", "second")
    prompt = Prompt(shared=SHARED, text="Function `mul(a, b)`:", stop=("\n\n",))
    first = fake.complete(prompt, max_tokens=50)
    assert first.text == "It adds two numbers." and first.finish_reason == "stop"
    assert first.prompt_tokens == fake.count_tokens(prompt) and first.reused_tokens == 0
    stream = fake.stream(Prompt(shared=SHARED, text="Function `neg(a)`:"), max_tokens=50)
    assert list(stream) == ["second"] and stream.result.text == "second"
    assert stream.result.reused_tokens > 0  # same shared part as the previous call
    assert [call.prompt for call in fake.history] == [
        SHARED + prompt.text,
        SHARED + "Function `neg(a)`:",
    ]
    assert fake.history[0].stop == ("\n\n",) and fake.history[0].max_tokens == 50
    with pytest.raises(RuntimeError, match="no answer enqueued"):
        fake.complete("again", max_tokens=5)


def test_fake_engine_limits_length_and_context() -> None:
    fake = FakeEngine(n_ctx=30)
    fake.enqueue("one two three four five")
    result = fake.complete("short", max_tokens=3)
    assert result.text == "one two three " and result.finish_reason == "length"
    assert result.completion_tokens == 3
    with pytest.raises(PromptTooLong, match="does not fit the model context"):
        fake.complete("word " * 40, max_tokens=3)
    with fake:
        pass
    assert fake.closed


def test_fake_engine_chat_rendering_keeps_shared_first() -> None:
    fake = FakeEngine(chat_style=ChatStyle.CHAT)
    text = fake.render(Prompt(shared="RULES", text="QUESTION", style=ChatStyle.CHAT))
    assert text.index("RULES") < text.index("QUESTION")
    assert fake.model.chat_style is ChatStyle.CHAT and len(fake.model.sha256) == 64


# --------------------------------------------------------------------------- machine


def test_choose_n_ctx() -> None:
    assert choose_n_ctx(None, 32768) == DEFAULT_N_CTX
    assert choose_n_ctx(None, 32768, needed=9000) == 9000
    assert choose_n_ctx(None, 2048) == 2048  # never above what the model was trained for
    assert choose_n_ctx(16384, 8192) == 8192
    assert choose_n_ctx(1024, 32768, needed=9000) == 1024  # an explicit setting wins
    assert choose_n_ctx(None, None) == DEFAULT_N_CTX
    assert choose_n_ctx(10, None) == engine_mod.MIN_N_CTX


def test_physical_cores_is_within_the_affinity_mask() -> None:
    import os

    assert 1 <= physical_cores() <= len(os.sched_getaffinity(0))


def test_not_enough_memory_is_a_clear_error(
    tmp_path: Path, make_gguf: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = make_gguf(
        tmp_path / "m.gguf",
        {
            "general.architecture": "llama",
            "llama.context_length": 131072,
            "llama.block_count": 80,
            "llama.embedding_length": 8192,
            "llama.attention.head_count": 64,
            "llama.attention.head_count_kv": 8,
        },
    )
    model = models.resolve_model(Settings(models_dir=tmp_path / "store"), str(path))
    monkeypatch.setattr(engine_mod, "available_memory", lambda: 8 * 2**30)
    # 80 layers x 8 heads x 256 x 2 bytes = 320 KiB per token: 128k tokens need 40 GiB.
    with pytest.raises(
        LocalreadError, match=r"not enough memory .*131072-token context.*LOCALREAD_N_CTX"
    ):
        engine_mod.check_memory(model, 131072, n_gpu_layers=0)
    engine_mod.check_memory(model, 4096, n_gpu_layers=0)  # 1.25 GiB: fine
    engine_mod.check_memory(model, 131072, n_gpu_layers=-1)  # GPU memory is not ours to judge


@pytest.mark.model
def test_a_file_llama_cpp_cannot_load_is_a_clear_error(
    tmp_path: Path, make_gguf: Callable[..., Path]
) -> None:
    model = models.resolve_model(
        Settings(models_dir=tmp_path / "store"), str(make_gguf(tmp_path / "m.gguf"))
    )
    with pytest.raises(LocalreadError, match="could not load .*corrupt"):
        LlamaEngine(model, n_ctx=512, n_threads=1)


# --------------------------------------------------------------------------- llama.cpp


@pytest.mark.model
def test_open_engine_sets_context_threads_and_offload(default_engine: LlamaEngine) -> None:
    import llama_cpp

    assert default_engine.n_ctx == DEFAULT_N_CTX  # explicit, not llama-cpp-python's 512
    assert default_engine.n_threads == physical_cores()
    expected_gpu = -1 if llama_cpp.llama_supports_gpu_offload() else 0
    assert default_engine.n_gpu_layers == expected_gpu
    assert default_engine.model.name == "gemma3-270m"
    assert default_engine.model.sha256 == models.load_catalog().default_entry.sha256
    assert default_engine.model.chat_style is ChatStyle.COMPLETION


@pytest.mark.model
def test_settings_choose_context_and_threads(default_model_file: Path) -> None:
    settings = Settings(
        models_dir=default_model_file.parent, n_ctx=1024, n_threads=1, n_gpu_layers=0
    )
    with open_engine(settings) as engine:
        assert (engine.n_ctx, engine.n_threads, engine.n_gpu_layers) == (1024, 1, 0)
    assert engine._llm is None  # closed on leaving the block
    with pytest.raises(RuntimeError, match="closed"):
        engine.count_tokens("x")


@pytest.mark.model
def test_count_tokens_matches_what_the_model_evaluates(default_engine: LlamaEngine) -> None:
    prompt = Prompt(shared=SHARED, text="Function `mul(a, b)`: returns")
    n = default_engine.count_tokens(prompt)
    assert n == default_engine.count_tokens(SHARED + "Function `mul(a, b)`: returns")
    assert 40 < n < 120
    assert default_engine.render(prompt) == "<bos>" + SHARED + prompt.text
    result = default_engine.complete(prompt, max_tokens=8)
    assert result.prompt_tokens == n


@pytest.mark.model
def test_greedy_answers_do_not_depend_on_earlier_calls(
    default_engine: LlamaEngine, default_model_file: Path
) -> None:
    prompt = Prompt(shared=SHARED, text="Function `mul(a, b)`: returns", stop=("\n",))
    first = default_engine.complete(prompt, max_tokens=24)
    again = default_engine.complete(prompt, max_tokens=24)  # whole prompt cached
    default_engine.complete(Prompt(shared="Something else entirely.\n", text="x ="), max_tokens=4)
    after_other = default_engine.complete(prompt, max_tokens=24)
    with open_engine(Settings(models_dir=default_model_file.parent)) as fresh:
        from_fresh = fresh.complete(prompt, max_tokens=24)
    assert first.text.strip()
    assert first.text == again.text == after_other.text == from_fresh.text
    assert "product" in first.text.lower() or "*" in first.text or "mul" in first.text.lower()


@pytest.mark.model
def test_sampled_answers_are_the_same_on_every_run_and_reuse_the_prompt(
    default_engine: LlamaEngine, default_model_file: Path
) -> None:
    prompt = Prompt(shared=SHARED, text='def add_edge(graph, u, v):\n    """', stop=('"""', "\n\n"))
    greedy = default_engine.complete(prompt, max_tokens=24)
    warm = default_engine.sample(prompt, max_tokens=24, n=3)  # the prompt still cached
    default_engine.complete(Prompt(shared="Something else entirely.\n", text="x ="), max_tokens=4)
    cold = default_engine.sample(prompt, max_tokens=24, n=3)
    with open_engine(Settings(models_dir=default_model_file.parent)) as fresh:
        from_fresh = fresh.sample(prompt, max_tokens=24, n=3)
    texts = [c.text for c in warm]
    assert len(texts) == 3 and all(t.strip() for t in texts)
    assert texts == [c.text for c in cold] == [c.text for c in from_fresh]
    assert len(set(texts) | {greedy.text}) > 1  # sampled, not the greedy answer three times
    # Right after the greedy answer the shared part is reused and the unit's text is
    # evaluated again (the first answers drawn from the cells the greedy answer left
    # were not a fresh engine's); after another prompt, all of it, once for the three.
    shared_tokens = default_engine.count_tokens(Prompt(shared=SHARED, text=""))
    assert warm[0].reused_tokens == shared_tokens < warm[0].prompt_tokens
    assert cold[0].reused_tokens == 0 and cold[1].reused_tokens == cold[1].prompt_tokens - 1
    assert all(c.completion_tokens > 0 and c.finish_reason in ("stop", "length") for c in warm)


@pytest.mark.model
def test_prefix_reuse_is_counted_and_real(default_engine: LlamaEngine) -> None:
    import llama_cpp

    shared_tokens = default_engine.count_tokens(Prompt(shared=SHARED, text=""))
    default_engine.complete(Prompt(shared="Unrelated preamble.\n", text="a"), max_tokens=1)
    ctx = default_engine._llm._ctx.ctx  # llama.cpp's own counters, to check our numbers

    def run(text: str) -> tuple[Completion, int]:
        llama_cpp.llama_perf_context_reset(ctx)
        result = default_engine.complete(Prompt(shared=SHARED, text=text), max_tokens=4)
        return result, llama_cpp.llama_perf_context(ctx).n_p_eval

    cold, cold_evaluated = run("Function `sub(a, b)`: returns")
    warm, warm_evaluated = run("Function `neg(a)`: returns the")
    assert cold.reused_tokens == 0 and cold_evaluated == cold.prompt_tokens
    assert warm.reused_tokens == shared_tokens > 30
    assert warm.evaluated_tokens == warm.prompt_tokens - shared_tokens == warm_evaluated


@pytest.mark.model
def test_stream_delivers_the_same_answer_in_pieces(default_engine: LlamaEngine) -> None:
    prompt = Prompt(shared=SHARED, text="Function `sub(a, b)`: returns", stop=("\n",))
    whole = default_engine.complete(prompt, max_tokens=20)
    stream = default_engine.stream(prompt, max_tokens=20)
    with pytest.raises(RuntimeError, match="not been read"):
        _ = stream.result
    pieces = list(stream)
    assert len(pieces) > 1 and "".join(pieces) == whole.text == stream.result.text
    assert stream.result.completion_tokens == whole.completion_tokens > 0


@pytest.mark.model
def test_stop_sequences_and_max_tokens(default_engine: LlamaEngine) -> None:
    counted = default_engine.complete("1, 2, 3, 4, 5, 6, 7,", max_tokens=12)
    assert counted.finish_reason == "length" and counted.completion_tokens == 12
    stopped = default_engine.complete("1, 2, 3, 4, 5, 6, 7,", max_tokens=12, stop=[","])
    assert stopped.finish_reason == "stop" and "," not in stopped.text
    assert stopped.text.strip() == "8"


@pytest.mark.model
def test_prompt_longer_than_the_context_is_refused(default_engine: LlamaEngine) -> None:
    with pytest.raises(PromptTooLong, match="does not fit the model context"):
        default_engine.complete("word " * 5000, max_tokens=16)
    with pytest.raises(LocalreadError, match=r"plus the answer budget \(4090\)"):
        default_engine.complete("a short prompt " * 10, max_tokens=4090)


# --------------------------------------------------------------------------- chat template

GEMMA_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "<start_of_turn>{{ role }}\n{{ message['content'] | trim }}<end_of_turn>\n"
    "{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


def _with_chat_template(src: Path, dest: Path, template: str) -> Path:
    """A copy of a GGUF model with `tokenizer.chat_template` added to its metadata."""
    size = src.stat().st_size
    info = models.read_gguf(src)
    with src.open("rb") as fh:
        head = fh.read(24)
        version, n_tensors, n_kv = struct.unpack("<IQQ", head[4:])
        r = gguf._Reader(fh, src, size, start=24)
        for _ in range(n_kv):
            key = r.string()
            gguf._read_value(r, r.unpack("I"), src, key)
        kv_end = r.offset
        for _ in range(n_tensors):
            r.string()
            for _ in range(r.unpack("I")):
                r.unpack("Q")
            r.unpack("I")
            r.unpack("Q")
        infos_end = r.offset
        fh.seek(0)
        raw = fh.read(infos_end)
        fh.seek(info.data_offset)
        data = fh.read()
    key, value = b"tokenizer.chat_template", template.encode()
    kv = struct.pack("<Q", len(key)) + key + struct.pack("<IQ", 8, len(value)) + value
    header = b"GGUF" + struct.pack("<IQQ", version, n_tensors, n_kv + 1)
    header += raw[24:kv_end] + kv + raw[kv_end:infos_end]
    alignment = info.metadata.get("general.alignment", 32)
    header += b"\0" * (-len(header) % alignment)
    dest.write_bytes(header + data)
    return dest


@pytest.fixture(scope="module")
def chat_engine(default_model_file: Path, tmp_path_factory: pytest.TempPathFactory) -> LlamaEngine:
    folder = tmp_path_factory.mktemp("chat")
    path = _with_chat_template(default_model_file, folder / "gemma-chat.gguf", GEMMA_TEMPLATE)
    model = models.resolve_model(Settings(models_dir=folder), str(path))
    with LlamaEngine(model, n_ctx=2048, n_threads=physical_cores()) as engine:
        yield engine


@pytest.mark.model
def test_chat_template_formats_the_prompt(chat_engine: LlamaEngine) -> None:
    assert chat_engine.model.chat_style is ChatStyle.CHAT
    prompt = Prompt(shared="Answer in one word.", text="What is 2 + 2?", style=ChatStyle.CHAT)
    assert chat_engine.render(prompt) == (
        "<bos><start_of_turn>system\nAnswer in one word.<end_of_turn>\n"
        "<start_of_turn>user\nWhat is 2 + 2?<end_of_turn>\n<start_of_turn>model\n"
    )
    result = chat_engine.complete(prompt, max_tokens=8)
    assert result.prompt_tokens == chat_engine.count_tokens(prompt)
    second = chat_engine.complete(
        Prompt(shared="Answer in one word.", text="What is 3 + 3?", style=ChatStyle.CHAT),
        max_tokens=8,
    )
    assert second.reused_tokens > 0


@pytest.mark.model
def test_message_contents_cannot_inject_control_tokens(chat_engine: LlamaEngine) -> None:
    llm = chat_engine._llm
    end_of_turn = llm.tokenize(b"<end_of_turn>", add_bos=False, special=True)
    assert len(end_of_turn) == 1
    prompt = Prompt(shared="Rules.", text='s = "<end_of_turn>"', style=ChatStyle.CHAT)
    tokens, shared_len = chat_engine._tokens(prompt)
    assert tokens.count(end_of_turn[0]) == 2  # the template's two, not the one in the code
    assert tokens[0] == llm.token_bos() and tokens[1] != llm.token_bos()  # BOS once
    assert 0 < shared_len < len(tokens)

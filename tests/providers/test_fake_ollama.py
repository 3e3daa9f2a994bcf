"""The fake Ollama server is parsed by the official ``ollama`` client, faults included."""

from __future__ import annotations

import json
import time

import httpx
import ollama
import pytest

from tests.fakes.ollama import FakeOllama
from tests.fakes.server import Script

MESSAGES = [{"role": "user", "content": "Hello there"}]


async def test_async_client_streams_the_scripted_reply(fake_ollama: FakeOllama) -> None:
    fake_ollama.script(Script(text="One two three"))
    parts = [
        part
        async for part in await ollama.AsyncClient(host=fake_ollama.url).chat(
            model="llama3.2", messages=MESSAGES, stream=True
        )
    ]
    assert "".join(p.message.content for p in parts) == "One two three"
    assert [p.done for p in parts] == [False, False, False, True]
    final = parts[-1]
    assert final.done_reason == "stop"
    assert final.eval_count == 3 and final.prompt_eval_count > 0 and final.total_duration > 0
    request = fake_ollama.chat_requests()[0]
    assert request.json["messages"] == MESSAGES and request.json["stream"] is True
    # The fake records completion after its last write, a moment after the client has read it.
    assert fake_ollama.wait_for(lambda fake: fake.chat_requests()[0].completed) and not request.disconnected


def test_sync_client_with_and_without_streaming(fake_ollama: FakeOllama) -> None:
    client = ollama.Client(host=fake_ollama.url)
    fake_ollama.script(Script(text="abcdef", chunks=3))
    assert [p.message.content for p in client.chat(model="llama3.2", messages=MESSAGES, stream=True)] == [
        "ab",
        "cd",
        "ef",
        "",
    ]
    whole = client.chat(model="llama3.2", messages=MESSAGES)
    assert whole.message.content == Script().text and whole.done


def test_wire_format_is_ndjson_as_ollama_writes_it(fake_ollama: FakeOllama) -> None:
    fake_ollama.script(Script(text="a <b> & c", chunks=1))
    response = httpx.post(fake_ollama.url + "/api/chat", json={"model": "llama3.2", "messages": MESSAGES})
    assert response.headers["content-type"] == "application/x-ndjson"
    assert response.headers["transfer-encoding"] == "chunked"
    lines = response.content.split(b"\n")
    assert lines[-1] == b"" and b"\\u003cb\\u003e \\u0026" in lines[0]
    first, last = json.loads(lines[0]), json.loads(lines[-2])
    assert list(first) == ["model", "created_at", "message", "done"]
    assert first["created_at"].endswith("Z") and first["message"]["role"] == "assistant"
    assert list(last) == [
        "model",
        "created_at",
        "message",
        "done_reason",
        "done",
        "total_duration",
        "load_duration",
        "prompt_eval_count",
        "prompt_eval_duration",
        "eval_count",
        "eval_duration",
    ]


def test_missing_model_is_a_404_with_ollamas_message(fake_ollama: FakeOllama) -> None:
    with pytest.raises(ollama.ResponseError) as caught:
        ollama.Client(host=fake_ollama.url).chat(model="mistral", messages=MESSAGES)
    assert caught.value.status_code == 404
    assert caught.value.error == 'model "mistral" not found, try pulling it first'


@pytest.mark.parametrize("status", [400, 500, 503])
def test_error_status_carries_ollamas_error_body(fake_ollama: FakeOllama, status: int) -> None:
    fake_ollama.script(Script(status=status, error="boom"))
    with pytest.raises(ollama.ResponseError) as caught:
        list(ollama.Client(host=fake_ollama.url).chat(model="llama3.2", messages=MESSAGES, stream=True))
    assert (caught.value.status_code, caught.value.error) == (status, "boom")


def test_in_band_error_line_mid_stream(fake_ollama: FakeOllama) -> None:
    fake_ollama.script(Script(fault="error", after=2, error="model crashed"))
    seen = []
    with pytest.raises(ollama.ResponseError, match="model crashed"):
        for part in ollama.Client(host=fake_ollama.url).chat(model="llama3.2", messages=MESSAGES, stream=True):
            seen.append(part.message.content)
    assert len(seen) == 2


def test_malformed_line_breaks_the_parser(fake_ollama: FakeOllama) -> None:
    fake_ollama.script(Script(fault="malformed", after=1))
    with pytest.raises(json.JSONDecodeError):
        list(ollama.Client(host=fake_ollama.url).chat(model="llama3.2", messages=MESSAGES, stream=True))


def test_cut_stream_is_an_incomplete_body(fake_ollama: FakeOllama) -> None:
    fake_ollama.script(Script(fault="cut", after=2))
    with pytest.raises(httpx.RemoteProtocolError):
        list(ollama.Client(host=fake_ollama.url).chat(model="llama3.2", messages=MESSAGES, stream=True))
    assert fake_ollama.chat_requests()[0].chunks_sent == 2


def test_end_without_done_line(fake_ollama: FakeOllama) -> None:
    fake_ollama.script(Script(fault="end", after=2))
    parts = list(ollama.Client(host=fake_ollama.url).chat(model="llama3.2", messages=MESSAGES, stream=True))
    assert len(parts) == 2 and not parts[-1].done


def test_pacing_and_stall_and_disconnect(fake_ollama: FakeOllama) -> None:
    fake_ollama.script(Script(text="a b c", first_chunk_delay=0.3, chunk_delay=0.1), Script(fault="stall", after=1))
    client = ollama.Client(host=fake_ollama.url, timeout=httpx.Timeout(0.5))
    began = time.monotonic()
    stream = client.chat(model="llama3.2", messages=MESSAGES, stream=True)
    next(stream)
    assert time.monotonic() - began >= 0.3
    list(stream)
    assert time.monotonic() - began >= 0.5
    with pytest.raises(httpx.ReadTimeout):
        list(client.chat(model="llama3.2", messages=MESSAGES, stream=True))
    assert fake_ollama.wait_disconnect()
    assert fake_ollama.chat_requests()[1].disconnected


def test_hang_then_answer_from_the_script_queue(fake_ollama: FakeOllama) -> None:
    fake_ollama.script(Script(fault="hang"), Script(text="second"))
    client = ollama.Client(host=fake_ollama.url, timeout=httpx.Timeout(0.3))
    with pytest.raises(httpx.ReadTimeout):
        client.chat(model="llama3.2", messages=MESSAGES)
    assert client.chat(model="llama3.2", messages=MESSAGES).message.content == "second"
    assert len(fake_ollama.chat_requests()) == 2


def test_tags_and_pull(fake_ollama: FakeOllama) -> None:
    client = ollama.Client(host=fake_ollama.url)
    assert [m.model for m in client.list().models] == ["llama3.2:latest"]
    statuses = [p.status for p in client.pull("qwen2.5:0.5b", stream=True)]
    assert statuses[0] == "pulling manifest" and statuses[-1] == "success"
    assert "qwen2.5:0.5b" in [m.model for m in client.list().models]


def test_pull_of_an_unknown_model_fails_in_band() -> None:
    with (
        FakeOllama(models=[], pullable=["llama3.2"]) as fake,
        pytest.raises(ollama.ResponseError, match="file does not exist"),
    ):
        list(ollama.Client(host=fake.url).pull("nonexistent", stream=True))


def test_records_headers_and_bodies(fake_ollama: FakeOllama) -> None:
    httpx.post(
        fake_ollama.url + "/api/chat",
        json={"model": "llama3.2", "messages": MESSAGES, "stream": False},
        headers={"x-trace": "t1"},
    )
    request = fake_ollama.requests[-1]
    assert (request.method, request.path, request.headers["x-trace"]) == ("POST", "/api/chat", "t1")
    assert request.json["stream"] is False

"""The fake OpenAI server is parsed by the official ``openai`` SDK, faults included."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import Script

MESSAGES = [{"role": "user", "content": "Hello there"}]


def client(fake: FakeOpenAI, key: str = "sk-test", timeout: float = 5.0) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=fake.url + "/v1", api_key=key, max_retries=0, timeout=timeout)


async def stream(fake: FakeOpenAI, **kwargs: object) -> list:
    sdk = client(fake)
    try:
        chunks = await sdk.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True, **kwargs)
        return [chunk async for chunk in chunks]
    finally:
        await sdk.close()


async def test_streams_chunks_and_usage(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(Script(text="One two three"))
    chunks = await stream(fake_openai, stream_options={"include_usage": True})
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "One two three"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 3
    assert len({c.id for c in chunks}) == 1
    body = fake_openai.chat_requests()[0].json
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


async def test_no_usage_chunk_unless_asked(fake_openai: FakeOpenAI) -> None:
    chunks = await stream(fake_openai)
    assert all(c.choices and c.usage is None for c in chunks)


def test_wire_format_is_sse_ending_with_done(fake_openai: FakeOpenAI) -> None:
    response = httpx.post(
        fake_openai.url + "/v1/chat/completions",
        json={
            "model": "gpt-4o-mini",
            "messages": MESSAGES,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    )
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    events = response.text.split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    chunk = json.loads(events[0].removeprefix("data: "))
    assert chunk["object"] == "chat.completion.chunk" and chunk["usage"] is None
    assert json.loads(events[-3].removeprefix("data: "))["usage"]["total_tokens"] > 0


def test_sync_sdk_non_streaming_and_models(fake_openai: FakeOpenAI) -> None:
    sdk = openai.OpenAI(base_url=fake_openai.url + "/v1", api_key="k", max_retries=0)
    completion = sdk.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert completion.choices[0].message.content == Script().text and completion.usage.total_tokens > 0
    assert [m.id for m in sdk.models.list()] == ["gpt-4o-mini"]


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (403, openai.PermissionDeniedError),
        (404, openai.NotFoundError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
    ],
)
async def test_error_statuses_parse_as_sdk_errors(fake_openai: FakeOpenAI, status: int, error: type) -> None:
    fake_openai.script(Script(status=status, retry_after="7" if status == 429 else None))
    with pytest.raises(error) as caught:
        await stream(fake_openai)
    assert caught.value.status_code == status
    assert set(caught.value.body) == {"message", "type", "param", "code"}
    if status == 429:
        assert caught.value.response.headers["retry-after"] == "7"
        assert caught.value.code == "rate_limit_exceeded"


async def test_wrong_key_and_unknown_model() -> None:
    with FakeOpenAI(api_key="sk-right") as fake:
        sdk = client(fake, key="sk-wrong")
        with pytest.raises(openai.AuthenticationError) as caught:
            await sdk.models.list()
        assert caught.value.code == "invalid_api_key"
        assert fake.requests[0].headers["authorization"] == "Bearer sk-wrong"
        right = client(fake, key="sk-right")
        with pytest.raises(openai.NotFoundError, match="The model `gpt-9` does not exist"):
            await right.chat.completions.create(model="gpt-9", messages=MESSAGES)


async def test_stream_options_can_be_refused() -> None:
    with FakeOpenAI(accept_stream_options=False) as fake:
        with pytest.raises(openai.BadRequestError, match="stream_options") as caught:
            await stream(fake, stream_options={"include_usage": True})
        assert caught.value.param == "stream_options"
        assert len(await stream(fake)) > 1


async def test_cut_stream_is_a_connection_error(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(Script(fault="cut", after=2))
    with pytest.raises(openai.APIConnectionError) as caught:
        await stream(fake_openai)
    assert "incomplete chunked read" in str(caught.value.__cause__)


async def test_end_without_done_just_stops(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(Script(fault="end", after=2))
    chunks = await stream(fake_openai)
    assert [c.choices[0].finish_reason for c in chunks] == [None, None, None]


async def test_in_band_error_event(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(Script(fault="error", after=1, error="overloaded"))
    with pytest.raises(openai.APIError, match="overloaded"):
        await stream(fake_openai)


async def test_malformed_chunk(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(Script(fault="malformed", after=1))
    with pytest.raises(json.JSONDecodeError):
        await stream(fake_openai)


async def test_stall_times_out_and_fake_sees_the_disconnect(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(Script(fault="stall", after=1))
    sdk = client(fake_openai, timeout=0.3)
    with pytest.raises(openai.APITimeoutError):
        chunks = await sdk.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        async for _ in chunks:
            pass
    assert fake_openai.wait_disconnect()
    assert fake_openai.chat_requests()[0].chunks_sent == 1


async def test_queue_fails_then_answers(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(Script(status=503), Script(fault="hang"), Script(text="third time lucky"))
    with pytest.raises(openai.InternalServerError):
        await stream(fake_openai)
    sdk = client(fake_openai, timeout=0.3)
    with pytest.raises(openai.APITimeoutError):
        await sdk.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    chunks = await stream(fake_openai)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "third time lucky"

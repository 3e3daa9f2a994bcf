"""Input hardening: body and message limits, broken encodings, deep nesting, odd characters."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import httpx
import pytest

from tests.security.conftest import canned, new_session
from tests.support.server import running_server

LIMITS = '[server]\nmax_body_bytes = 4096\nmax_message_chars = 100\n'


async def test_a_body_over_the_limit_is_413_body_too_large(make_client) -> None:
    async with make_client(canned(extra=LIMITS)) as client:
        session = await new_session(client)
        response = await client.post("/api/chat", json={"sessionId": session, "message": "hi", "pad": "x" * 5000})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"


async def test_a_message_over_the_limit_is_413_message_too_long(make_client) -> None:
    async with make_client(canned(extra=LIMITS)) as client:
        session = await new_session(client)
        at_limit = await client.post("/api/chat", json={"sessionId": session, "message": "x" * 100})
        over = await client.post("/api/chat", json={"sessionId": session, "message": "x" * 101})
    assert at_limit.status_code == 200
    assert over.status_code == 413
    assert over.json()["error"] | {"message": ""} == {"code": "message_too_long", "message": "", "limit": 100}


def _raw_chunked(base_url: str, path: str, chunks: int, size: int) -> bytes:
    """A chunked POST with no Content-Length, written on a bare socket; the raw response."""
    parts = urlsplit(base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n".encode())
        try:
            for _ in range(chunks):
                sock.sendall(f"{size:x}\r\n".encode() + b"[" * size + b"\r\n")
            sock.sendall(b"0\r\n\r\n")
        except OSError:  # the server may answer and close before reading everything
            pass
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


def test_chunked_bodies_without_a_length_are_limited_too() -> None:
    with running_server(canned(extra=LIMITS)) as url:
        raw = _raw_chunked(url, "/api/create-session", chunks=64, size=1024)
        streamed = httpx.post(url + "/api/create-session", content=(b" " * 1024 for _ in range(64)),
                              headers={"Content-Type": "application/json"})
        small = httpx.post(url + "/api/create-session", content=(part for part in (b'{"meta', b'data": {}}')),
                           headers={"Content-Type": "application/json"})
    assert raw.startswith(b"HTTP/1.1 413"), raw[:200]
    assert b'"body_too_large"' in raw
    assert streamed.status_code == 413 and streamed.json()["error"]["code"] == "body_too_large"
    assert small.status_code == 201


@pytest.mark.parametrize("body", [
    b'{"sessionId": "\xff\xfe", "message": "hi"}',
    b'{"sessionId": "abc", "message": "caf\xc3"}',
    b'\xef\xbb\xbf{"sessionId": "abc", "message": "hi"}',
    b'{"sessionId": "abc", "message": "\\ud800"}',
    b'{"sessionId": "abc", "message": "hi"',
    b'{"sessionId": "abc", "message": 1e999999}',
    b'\x00' * 100,
])
async def test_undecodable_bodies_are_400_invalid_request(make_client, body: bytes) -> None:
    async with make_client(canned()) as client:
        response = await client.post("/api/chat", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_request"


@pytest.mark.parametrize("opening", ["[", '{"a":'])
async def test_deep_nesting_within_the_size_limit_is_a_400_not_a_crash(make_client, opening: str) -> None:
    depth = 100_000
    closing = "]" if opening == "[" else "}"
    body = '{"metadata": {"x": ' + opening * depth + "1" + closing * depth + "}}"
    config = canned(extra=f"[server]\nmax_body_bytes = {len(body) + 1024}\n")
    async with make_client(config) as client:
        response = await client.post("/api/create-session", content=body.encode(),
                                     headers={"Content-Type": "application/json"})
        still_serving = await client.post("/api/create-session")
    assert response.status_code == 400, response.text
    assert response.json()["error"] == {"code": "invalid_request", "message": "The request body is nested too deeply."}
    assert still_serving.status_code == 201


async def test_control_and_direction_characters_are_removed(make_client) -> None:
    text = "pay\u202eved\u202c here\x00\x07\x1b[31m ok\tand\nnew line"
    async with make_client(canned()) as client:
        session = await new_session(client)
        kept = await client.post("/api/chat", json={"sessionId": session, "message": text})
        nothing = await client.post("/api/chat", json={"sessionId": session, "message": "\x00\x01\u202e\x7f"})
    assert kept.status_code == 200
    history_text = kept.json()["message"]["content"]  # the canned model quotes what it was given
    assert "payved here[31m ok\tand\nnew line" in history_text
    assert not any(ch in history_text for ch in "\x00\x07\x1b\u202e\u202c")
    assert nothing.status_code == 400 and nothing.json()["error"]["code"] == "invalid_request"


async def test_unknown_fields_are_ignored(make_client) -> None:
    async with make_client(canned()) as client:
        created = await client.post("/api/create-session", json={"metadata": {"page": "/menu"}, "admin": True})
        session = created.json()["sessionId"]
        chat = await client.post("/api/chat", json={"sessionId": session, "message": "hi", "role": "system",
                                                    "provider": "other", "model": "x"})
    assert created.status_code == 201
    assert chat.status_code == 200 and chat.json()["message"]["provider"] == "demo"


@pytest.mark.parametrize(("body", "field"), [
    ({"sessionId": 5, "message": "hi"}, "sessionId"),
    ({"sessionId": "abc", "message": ["hi"]}, "message"),
    ({"sessionId": "abc", "message": "hi", "stream": "yes"}, "stream"),
    ({"message": "hi"}, "sessionId"),
])
async def test_wrongly_typed_or_missing_fields_are_named(make_client, body, field) -> None:
    async with make_client(canned()) as client:
        response = await client.post("/api/chat", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == field

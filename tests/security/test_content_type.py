"""JSON routes take JSON only (415 ``unsupported_media_type``): the bodies another site's page can
make a visitor's browser send without a CORS preflight are refused, on a real server and from Chromium."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser

from tests.security.conftest import canned, raw_request
from tests.support.server import free_port, running_server

SIMPLE_TYPES = ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
                "multipart/form-data; boundary=x", "application/jsonp", "text/json", None]


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with running_server(canned(["Quota spent."])) as url:
        yield url


@pytest.mark.parametrize("content_type", SIMPLE_TYPES)
@pytest.mark.parametrize("route", ["/api/chat", "/api/create-session"])
def test_a_body_that_is_not_json_is_refused(base_url: str, route: str, content_type: str | None) -> None:
    session = httpx.post(f"{base_url}/api/create-session").json()["sessionId"]
    body = json.dumps({"sessionId": session, "message": "spend the quota"}).encode()
    status, headers, answer = raw_request(base_url, "POST", route,
                                          {"Content-Type": content_type} if content_type else {}, body)
    assert status == 415, answer
    assert json.loads(answer)["error"]["code"] == "unsupported_media_type"
    assert headers["cache-control"] == "no-store"
    assert httpx.get(f"{base_url}/api/session/{session}/messages").json()["messages"] == []


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8",
                                          "Application/JSON;charset=UTF-8"])
def test_json_with_or_without_parameters_is_accepted(base_url: str, content_type: str) -> None:
    session = httpx.post(f"{base_url}/api/create-session", content=b'{"metadata": {}}',
                         headers={"Content-Type": content_type})
    assert session.status_code == 201
    chat = httpx.post(f"{base_url}/api/chat", headers={"Content-Type": content_type},
                      content=json.dumps({"sessionId": session.json()["sessionId"], "message": "hi"}))
    assert chat.status_code == 200, chat.text


def test_create_session_needs_no_body_at_all(base_url: str) -> None:
    status, _, answer = raw_request(base_url, "POST", "/api/create-session")
    assert status == 201, answer


@pytest.mark.browser
def test_a_page_on_an_unlisted_origin_cannot_chat_without_a_preflight(browser: Browser) -> None:
    """A no-cors text/plain POST is the one a browser sends cross-site without asking first."""
    port = free_port()
    with running_server(canned(["Quota spent."], extra='[server]\nallowed_origins = ["https://shop.example"]\n'),
                        port=port) as api:
        session = httpx.post(f"{api}/api/create-session").json()["sessionId"]
        context = browser.new_context(bypass_csp=True)
        page = context.new_page()
        try:
            page.goto(f"http://localhost:{port}/")  # another origin than the API's 127.0.0.1
            for content_type in ("text/plain", "application/x-www-form-urlencoded"):
                page.evaluate("""async ([url, body, type]) => {
                    await fetch(url, {method: 'POST', mode: 'no-cors', headers: {'Content-Type': type}, body});
                }""", [f"{api}/api/chat", json.dumps({"sessionId": session, "message": "spend"}), content_type])
        finally:
            context.close()
        assert httpx.get(f"{api}/api/session/{session}/messages").json()["messages"] == []

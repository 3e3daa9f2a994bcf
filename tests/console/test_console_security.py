"""The console's locks: off without a token, sign-in, cookie flags, CSRF, CSP, attempt limits."""

from __future__ import annotations

import time

import pytest
from litestar.testing import AsyncTestClient

from chatkit_core.http.app import create_app
from chatkit_core.platform.assembly import build_runtime
from chatkit_core.platform.config import ConfigError
from tests.console.helpers import TOKEN, console_config, csrf_of, login_nonce, sign_in
from tests.core.conftest import CANNED, config_from, new_session

PATHS = ["/admin", "/admin/", "/admin/login", "/admin/conversations", "/admin/dashboard", "/admin/export",
         "/admin/static/console.css", "//admin", "//admin/conversations", "/%2fadmin/conversations",
         "/%2Fadmin", "/admin/../admin/conversations", "/./admin/conversations", "/ADMIN/conversations",
         "/admin/static/../templates/base.html", "/admin/static/%2e%2e/pages.py", "/admin/static/..%2fauth.py"]


BASE = "http://testserver.local"  # a whole URL, so a path like //admin reaches the server as written


def client_for(text: str, base_url: str = BASE) -> AsyncTestClient:
    app = create_app(build_runtime(config_from(text)))
    return AsyncTestClient(app, base_url=base_url, raise_server_exceptions=False)


async def chat(client, text: str = "Hello") -> str:
    session = await new_session(client)
    assert (await client.post("/api/chat", json={"sessionId": session, "message": text})).status_code == 200
    return session


@pytest.mark.parametrize("path", PATHS)
async def test_without_a_token_there_is_no_console(path):
    async with client_for(CANNED + '\n[admin]\ntoken = ""\n') as client:
        await chat(client, "secret question")
        response = await client.get(BASE + path, follow_redirects=False)
        assert response.status_code == 404, (path, response.status_code)
        assert "secret question" not in response.text
        posted = await client.post(BASE + path, data={"token": ""}, follow_redirects=False)
        assert posted.status_code in (404, 405)


@pytest.mark.parametrize("path", PATHS)
async def test_signed_out_paths_reveal_nothing(path):
    async with client_for(console_config()) as client:
        session = await chat(client, "secret question")
        for address in (path, path.replace("conversations", f"conversations/{session}")):
            response = await client.get(BASE + address, follow_redirects=False)
            assert "secret question" not in response.text and session not in response.text, address
            assert "{%" not in response.text and "import" not in response.text, address  # no template or source
            if response.status_code in (301, 302, 303, 307, 308):
                assert response.headers["location"].endswith("/admin/login") or "/admin" in response.headers[
                    "location"], address
            else:
                assert response.status_code in (200, 404), (address, response.status_code)
        exported = await client.get(f"/admin/conversations/{session}/export", follow_redirects=False)
        assert exported.status_code == 302 and exported.headers["location"] == "/admin/login"
        erase = await client.post(f"/admin/conversations/{session}/erase", data={"csrf": "x"}, follow_redirects=False)
        assert erase.status_code == 403
        assert (await client.get(f"/api/session/{session}/messages")).status_code == 200


async def test_sign_in_sets_a_strict_http_only_cookie_scoped_to_the_console():
    async with client_for(console_config()) as client:
        response = await sign_in(client)
        assert response.status_code == 303 and response.headers["location"] == "/admin/conversations"
        cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("chatkit_admin="))
        flags = {part.strip().lower() for part in cookie.split(";")}
        assert {"httponly", "samesite=strict", "path=/admin"} <= flags
        assert "secure" not in flags  # plain HTTP: a Secure cookie would never come back
        page = await client.get("/admin/conversations")
        assert page.status_code == 200 and "Sign out" in page.text


async def test_cookie_is_secure_over_https():
    async with client_for(console_config(), "https://testserver.local") as client:
        response = await sign_in(client)
        cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("chatkit_admin="))
        assert "secure" in {part.strip().lower() for part in cookie.split(";")}


async def test_cookies_are_secure_with_hsts_on_behind_a_tls_proxy():
    async with client_for(console_config().replace("[chain]", "[server]\nhsts = true\n[chain]")) as client:
        cookie = (await client.get("/admin/login")).headers["set-cookie"]
        assert "secure" in {part.strip().lower() for part in cookie.split(";")}


async def test_wrong_token_forged_or_expired_cookie():
    async with client_for(console_config()) as client:
        wrong = await sign_in(client, TOKEN + "x")
        assert wrong.status_code == 401 and "not right" in wrong.text
        assert not any(c.startswith("chatkit_admin=") for c in wrong.headers.get_list("set-cookie"))
        for forged in ("x", f"{int(time.time()) + 999}.n.{'0' * 64}", f"{int(time.time()) - 1}.n.abc"):
            client.cookies.set("chatkit_admin", forged, path="/admin")
            response = await client.get("/admin/conversations", follow_redirects=False)
            assert response.status_code == 302 and response.headers["location"] == "/admin/login"


async def test_sign_in_form_needs_its_own_nonce():
    async with client_for(console_config()) as client:
        await client.get("/admin/login")
        response = await client.post("/admin/login", data={"token": TOKEN, "login_nonce": "guessed"})
        assert response.status_code == 403
        assert not any(c.startswith("chatkit_admin=") for c in response.headers.get_list("set-cookie"))


async def test_sign_in_attempts_are_limited_per_client():
    async with client_for(console_config()) as client:
        nonce = login_nonce((await client.get("/admin/login")).text)
        statuses = [(await client.post("/admin/login", data={"token": "nope", "login_nonce": nonce})).status_code
                    for _ in range(11)]
        assert statuses[:10] == [401] * 10 and statuses[10] == 429
        refused = await client.post("/admin/login", data={"token": TOKEN, "login_nonce": nonce})
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0


async def test_changes_need_the_csrf_token_of_the_session():
    async with client_for(console_config()) as client:
        session = await chat(client)
        await sign_in(client)
        transcript = await client.get(f"/admin/conversations/{session}")
        token = csrf_of(transcript.text)
        url = f"/admin/conversations/{session}/erase"
        tampered = token[:-1] + ("1" if token.endswith("0") else "0")
        for data, headers in (({}, {}), ({"csrf": "0" * 64}, {}), ({"csrf": tampered}, {}),
                              ({"csrf": token}, {"origin": "https://evil.example"})):
            refused = await client.post(url, data=data, headers=headers, follow_redirects=False)
            assert refused.status_code == 403, (data, headers)  # another site's Origin: refused before the console
            assert "was refused" in refused.text or "not allowed" in refused.text
        assert (await client.get(f"/api/session/{session}/messages")).status_code == 200
        assert (await client.post("/admin/logout", data={}, follow_redirects=False)).status_code == 403
        done = await client.post(url, data={"csrf": token}, follow_redirects=False)
        assert done.status_code == 303
        assert (await client.get(f"/api/session/{session}/messages")).status_code == 404
        out = await client.post("/admin/logout", data={"csrf": token}, follow_redirects=False)
        assert out.status_code == 303
        assert (await client.get("/admin/conversations", follow_redirects=False)).status_code == 302


async def test_console_pages_carry_their_own_strict_csp():
    async with client_for(console_config()) as client:
        await sign_in(client)
        for path in ("/admin/login", "/admin/conversations", "/admin/dashboard"):
            response = await client.get(path)
            policy = response.headers["content-security-policy"]
            assert policy.startswith("default-src 'none'") and "script-src 'self'" in policy, path
            assert "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
            assert response.headers["cache-control"] == "no-store"
            assert "<script>" not in response.text and " on" not in response.text.split("<body>")[1].split(">")[0]


@pytest.mark.parametrize("token", ["short", " " * 16, "a" * 40, "abababababababababab"])
def test_a_weak_token_is_refused_at_start_up(token: str):
    with pytest.raises(ConfigError, match=r"admin\.token"):
        config_from(CANNED + f'\n[admin]\ntoken = "{token}"\n')

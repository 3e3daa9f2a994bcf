"""Signing out of the console revokes the sign-in for every instance sharing the store, and the
cookie is Secure whenever the visitor's browser speaks HTTPS, TLS ended at a trusted proxy or not."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.console.helpers import ADMIN, TOKEN, csrf_of, login_nonce
from tests.core.conftest import CANNED
from tests.support.server import running_server


def sign_in(base: str, headers: dict[str, str] | None = None) -> httpx.Client:
    client = httpx.Client(base_url=base, headers=headers or {})
    page = client.get("/admin/login")
    signed = client.post("/admin/login", data={"token": TOKEN, "login_nonce": login_nonce(page.text)})
    assert signed.status_code == 303, signed.text
    return client


@pytest.mark.parametrize("store", ["memory", "sqlite", "redis", "postgres"])
def test_a_copied_cookie_stops_working_once_its_owner_signs_out(tmp_path, request, store: str):
    url = {"memory": "", "sqlite": f"sqlite:///{tmp_path}/s.db"}.get(store)
    if url is None:
        url = request.getfixturevalue("postgres_url" if store == "postgres" else "redis_server")
        url = getattr(url, "url", url)
    table = f'[sessions]\nstore = "{store}"\nurl = "{url}"\n'
    with running_server(CANNED + ADMIN + table) as url:
        operator = sign_in(url)
        copied = httpx.Client(base_url=url, cookies={"chatkit_admin": operator.cookies["chatkit_admin"]})
        assert copied.get("/admin/conversations").status_code == 200
        csrf = csrf_of(operator.get("/admin/conversations").text)
        assert operator.post("/admin/logout", data={"csrf": csrf}).status_code == 303
        refused = copied.get("/admin/conversations")
        assert refused.status_code == 302 and refused.headers["location"].endswith("/admin/login")


def test_the_revocation_reaches_another_instance_on_the_same_store(tmp_path):
    config = CANNED + ADMIN + f'[sessions]\nstore = "sqlite"\nurl = "sqlite:///{tmp_path}/s.db"\n'
    with running_server(config) as first, running_server(config) as second:
        operator = sign_in(first)
        elsewhere = httpx.Client(base_url=second, cookies={"chatkit_admin": operator.cookies["chatkit_admin"]})
        assert elsewhere.get("/admin/conversations").status_code == 200
        operator.post("/admin/logout", data={"csrf": csrf_of(operator.get("/admin/conversations").text)})
        assert elsewhere.get("/admin/conversations").status_code == 302


def set_cookie(response: httpx.Response, name: str) -> str:
    return next(v for k, v in response.headers.multi_items() if k == "set-cookie" and v.startswith(f"{name}="))


@pytest.mark.parametrize(("trusted", "secure"), [('["127.0.0.1/32"]', True), ("[]", False)])
def test_the_cookie_is_secure_behind_a_trusted_tls_proxy(trusted: str, secure: bool):
    with running_server(CANNED + ADMIN + f"[server]\ntrusted_proxies = {trusted}\n") as url:
        proxied = {"X-Forwarded-Proto": "https"}  # what the documented nginx sends for an HTTPS visitor
        page = httpx.get(f"{url}/admin/login", headers=proxied)
        login = set_cookie(page, "chatkit_admin_login")
        signed = httpx.post(f"{url}/admin/login", headers={**proxied, "Cookie": login.split(";")[0]},
                            data={"token": TOKEN, "login_nonce": login_nonce(page.text)})
        assert signed.status_code == 303, signed.text
        for cookie in (login, set_cookie(signed, "chatkit_admin")):
            assert bool(re.search(r";\s*secure", cookie, re.I)) is secure, cookie

"""Signing in to the console from a test client, and the configuration it runs with."""

from __future__ import annotations

import re

from tests.core.conftest import CANNED

TOKEN = "console-test-token-0123456789"
ADMIN = f'\n[admin]\ntoken = "{TOKEN}"\n'


def console_config(extra: str = "") -> str:
    return CANNED + ADMIN + extra


def login_nonce(html: str) -> str:
    return re.search(r'name="login_nonce" value="([^"]+)"', html)[1]


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', html)[1]


async def sign_in(client, token: str = TOKEN):
    page = await client.get("/admin/login")
    return await client.post("/admin/login", data={"token": token, "login_nonce": login_nonce(page.text)},
                             follow_redirects=False)

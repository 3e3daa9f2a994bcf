"""The proxy the environment names for Ollama's URL, looked up once per provider.

aiohttp's ``trust_env`` reads the environment (and ``~/.netrc``) again on every request,
which costs more CPU than the rest of a short answer's client work.
"""

from __future__ import annotations

from typing import Any
from urllib.request import getproxies, proxy_bypass

import aiohttp
from yarl import URL


def env_proxy(url: URL) -> dict[str, Any]:
    """Request arguments that route ``url`` through ``HTTP_PROXY``/``HTTPS_PROXY``, unless
    ``NO_PROXY`` exempts its host; none without such a proxy."""
    named = getproxies().get(url.scheme)
    if not named or url.host is None or proxy_bypass(url.host):
        return {}
    proxy = URL(named)
    return {"proxy": proxy.with_user(None), "proxy_auth": aiohttp.BasicAuth.from_url(proxy)}

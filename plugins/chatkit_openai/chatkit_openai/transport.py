"""How a chat completion travels: the SDK's headers and errors, aiohttp's connection pool.

The official SDK decides what a request carries (its authentication, organization and
identifying headers, read once when the provider starts) and what an error answer means (its
exception for the status and body, which :func:`chatkit_openai.errors.classify` reads). The
bytes go through one pooled aiohttp session, as the ``ollama`` provider's do: the SDK's httpx
client built, sent and read every request at several times the CPU of the rest of a chat.
"""

from __future__ import annotations

import base64
import contextlib
import importlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any
from urllib.request import getproxies, proxy_bypass

import aiohttp
from yarl import URL

from chatkit_openai.options import OpenAIOptions

if TYPE_CHECKING:
    import openai

KEEP_ALIVE = 4.0
"""Seconds an idle connection is kept. Servers commonly close theirs after 5 s (llama.cpp's
``llama-server``, uvicorn): closing first keeps a request from going out on a connection the
server is closing, which aiohttp does not retry for a POST."""


class Transport:
    """One provider's pooled connections to ``base_url/chat/completions``."""

    def __init__(self, sdk: openai.AsyncOpenAI, options: OpenAIOptions) -> None:
        self.sdk = sdk
        base = URL(str(sdk.base_url))
        self.url = base.with_user(None).join(URL("chat/completions"))
        proxy, proxy_headers = _env_proxy(self.url)
        self.headers = _headers(sdk, base, options.read_timeout) | proxy_headers
        self._sending: dict[str, Any] = {"allow_redirects": False, **proxy}
        self._session = aiohttp.ClientSession(
            # No connection cap: past one, answers would queue until their first-token limit.
            connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=KEEP_ALIVE),
            # No total limit: the chain bounds the first token and each gap between chunks.
            timeout=aiohttp.ClientTimeout(sock_connect=options.connect_timeout, sock_read=options.read_timeout),
        )

    async def close(self) -> None:
        await self._session.close()

    @contextlib.asynccontextmanager
    async def post(self, body: bytes) -> AsyncIterator[aiohttp.ClientResponse]:
        """The streamed answer to ``body``; an error status raises the SDK's exception for it."""
        async with self._session.post(self.url, data=body, headers=self.headers, **self._sending) as response:
            if response.status >= 400:
                raise self._status_error(response, await response.read())
            yield response

    def _status_error(self, response: aiohttp.ClientResponse, content: bytes) -> openai.APIStatusError:
        """The exception the SDK raises for this answer: its class for the status, ``code``,
        ``param`` and ``message`` from the body."""
        http = _http_module()
        request = http.Request("POST", str(self.url))
        answer = http.Response(response.status, headers=list(response.headers.items()), content=content,
                               request=request)
        return self.sdk._make_status_error_from_response(answer)  # the SDK's own mapping, as it uses it


def _headers(sdk: openai.AsyncOpenAI, base: URL, read_timeout: float) -> dict[str, str]:
    """What the SDK sends with every request, computed once: its default and authentication
    headers, with Basic auth in place of the key when ``base_url`` carries credentials (a
    proxy in front of the server wants them)."""
    import openai

    merged = {**sdk.default_headers, **sdk.auth_headers}
    headers = {name: value for name, value in merged.items() if not isinstance(value, openai.Omit)}
    headers |= {"X-Stainless-Retry-Count": "0", "X-Stainless-Read-Timeout": str(read_timeout)}
    if base.user is not None:
        headers["Authorization"] = _basic(base)
    return headers


def _http_module() -> Any:
    """The HTTP library the SDK's client is built on (``httpx`` or a fork): its errors take its answers."""
    import openai

    return importlib.import_module(openai.DefaultAsyncHttpxClient.__mro__[1].__module__.partition(".")[0])


def _env_proxy(url: URL) -> tuple[dict[str, Any], dict[str, str]]:
    """Request arguments, and headers, that route ``url`` through ``HTTP_PROXY``/``HTTPS_PROXY``
    unless ``NO_PROXY`` exempts its host, looked up once: aiohttp's ``trust_env`` reads the
    environment (and ``~/.netrc``) again on every request. The SDK's httpx client honours them too.

    The proxy's credentials go in ``Proxy-Authorization``: on the request itself for a plain
    HTTP upstream (the proxy receives it), on the tunnel's CONNECT for an HTTPS one."""
    named = getproxies().get(url.scheme)
    if not named or url.host is None or proxy_bypass(url.host):
        return {}, {}
    proxy = URL(named)
    if proxy.user is None:
        return {"proxy": proxy}, {}
    credentials = {"Proxy-Authorization": _basic(proxy)}
    if url.scheme == "https":
        return {"proxy": proxy.with_user(None), "proxy_headers": credentials}, {}
    return {"proxy": proxy.with_user(None)}, credentials


def _basic(url: URL) -> str:
    """Basic auth from ``url``'s credentials (aiohttp 3.14 deprecates its ``BasicAuth``)."""
    return "Basic " + base64.b64encode(f"{url.user}:{url.password or ''}".encode()).decode()

"""Connections only to public addresses, unless the source itself is private.

The check runs on the addresses a host name resolves to, at connect time and for every
connection (redirects included), and the socket goes to the address that was checked, so a
name that changes its answer between two lookups cannot slip through.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpcore
import httpx

Resolver = Callable[[str, int], Awaitable[list[str]]]


async def resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def all_public(addresses: Iterable[str]) -> bool:
    return all(is_public(address) for address in addresses)


class GuardedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, allow_private: bool, resolver: Resolver = resolve) -> None:
        self.allow_private = allow_private
        self.resolver = resolver
        self.backend = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None, socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await self.resolver(host, port)
        except OSError as error:
            raise httpcore.ConnectError(f"cannot resolve {host}: {error}") from None
        if not addresses:
            raise httpcore.ConnectError(f"cannot resolve {host}")
        private = [a for a in addresses if not is_public(a)]
        if private and not self.allow_private:
            raise httpcore.ConnectError(f"{host} resolves to the private address {private[0]}")
        return await self.backend.connect_tcp(addresses[0], port, timeout=timeout, local_address=local_address,
                                              socket_options=socket_options)

    async def sleep(self, seconds: float) -> None:
        await self.backend.sleep(seconds)


def guarded_client(allow_private: bool, timeout: float, user_agent: str, concurrency: int,
                   resolver: Resolver = resolve) -> httpx.AsyncClient:
    """An httpx client without retries, proxies from the environment or redirects of its own."""
    transport = httpx.AsyncHTTPTransport(retries=0)
    # httpx has no public way to pass a network backend; the pool it builds is replaced by
    # the same pool around the guarded backend.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(), max_connections=concurrency, retries=0,
        network_backend=GuardedBackend(allow_private, resolver))
    return httpx.AsyncClient(transport=transport, timeout=timeout, follow_redirects=False, trust_env=False,
                             headers={"User-Agent": user_agent})

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

from chatkit_knowledge.inflate import ACCEPT_ENCODING

Resolver = Callable[[str, int], Awaitable[list[str]]]


async def resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


_NAT64 = ipaddress.ip_network("64:ff9b::/96")
"""The well-known NAT64 prefix (RFC 6052): the last 32 bits are the IPv4 address reached."""
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")
"""Local-use NAT64 (RFC 8215): a site's own translator, with the IPv4 address anywhere in it."""
_LAST_32 = (ipaddress.ip_network("::/96"), ipaddress.ip_network("::ffff:0:0:0/96"))
"""IPv4-compatible ``::a.b.c.d`` (deprecated) and IPv4-translated ``::ffff:0:a.b.c.d`` (SIIT)."""


def _embedded(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address leads to: mapped, NAT64, compatible, 6to4, Teredo."""
    found = [v4 for v4 in (ip.ipv4_mapped, ip.sixtofour) if v4 is not None]
    if ip.teredo:
        found += ip.teredo
    if ip in _NAT64 or any(ip in network for network in _LAST_32):
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF))
    return found


def is_public(address: str) -> bool:
    """A global unicast address, and so is every IPv4 address an IPv6 form of it carries."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _LOCAL_NAT64:
            return False
        embedded = _embedded(ip)
        if embedded:
            return all(v4.is_global and not v4.is_multicast for v4 in embedded)
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
                             headers={"User-Agent": user_agent, "Accept-Encoding": ACCEPT_ENCODING})

"""X-Forwarded-For behind a trusted proxy, on a real server: every header line counts, in order,
and hops written with ports, brackets or zones are one client."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from chatkit_core.http.client import client_ip
from tests.security.conftest import canned, raw_request
from tests.support.server import running_server

LIMITED = canned(extra='[server]\ntrusted_proxies = ["127.0.0.1/32"]\n',
                 rate_limit='type = "limits"\nper_ip = ["3/minute"]')


@pytest.fixture
def base_url() -> Iterator[str]:
    with running_server(LIMITED) as url:
        yield url


def create(base_url: str, *lines: str) -> int:
    """create-session with one X-Forwarded-For header line per entry of ``lines``."""
    return raw_request(base_url, "POST", "/api/create-session", [("X-Forwarded-For", line) for line in lines])[0]


def test_a_visitor_cannot_pick_its_key_with_a_line_before_the_proxys(base_url: str) -> None:
    # The proxy adds its own line with the address it saw; the visitor's own line comes first.
    statuses = [create(base_url, f"203.0.113.{index}", "198.51.100.9") for index in range(6)]
    assert statuses == [201, 201, 201, 429, 429, 429]


@pytest.mark.parametrize("forms", [
    ["198.51.100.5:1001", "198.51.100.5:1002", "198.51.100.5:1003", "198.51.100.5:1004"],
    ["[2001:db8::5]:1", "[2001:db8::5]:2", "2001:db8::5", "[2001:db8:0::5]:3"],
    ["fe80::5%eth0", "fe80::5%eth1", "fe80::5%25eth2", "[fe80::5%lo]:80"],
])
def test_each_form_of_one_address_is_one_key(base_url: str, forms: list[str]) -> None:
    assert [create(base_url, hop) for hop in forms] == [201, 201, 201, 429]


def test_unparsable_hops_count_as_the_proxy_that_handed_them_over() -> None:
    trusted = ["127.0.0.1/32", "10.0.0.0/8"]
    junk = ["garbage", secrets.token_hex(4), "unknown", "_hidden", "1.2.3.4.5", "[::1", ""]
    assert {client_ip("127.0.0.1", [hop], trusted) for hop in junk} == {"127.0.0.1"}
    assert client_ip("127.0.0.1", ["junk, 10.0.0.7"], trusted) == "10.0.0.7"
    assert client_ip("127.0.0.1", ["1.2.3.4, junk"], trusted) == "127.0.0.1"
    assert client_ip("198.51.100.1", ["1.2.3.4"], trusted) == "198.51.100.1"

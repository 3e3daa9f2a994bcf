"""``[rate_limit]`` is checked when the config loads, with messages that name the key."""

from __future__ import annotations

import msgspec
import pytest
from chatkit_ratelimit import LimitsLimiter, LimitsOptions

from chatkit_core.platform.assembly import build_limiter
from chatkit_core.platform.config import ConfigError, decode


def options(**table) -> LimitsOptions:
    return msgspec.convert({"type": "limits", **table}, LimitsOptions)


def test_defaults():
    chosen = options()
    assert chosen.strategy == "moving-window"
    assert chosen.on_storage_error == "open"
    assert chosen.storage == "memory://"
    assert chosen.routes == {"chat": 1, "create-session": 1}


@pytest.mark.parametrize("text", ["60/minit", "sixty/minute", "", "60/minute;1000/hour", "0/minute"])
def test_malformed_limit_is_refused_naming_the_key(text):
    with pytest.raises(msgspec.ValidationError) as caught:
        options(per_ip=["10/second", text])
    assert str(caught.value).startswith(f"per_ip: {msgspec.json.encode(text).decode()} is not a rate limit")


def test_malformed_session_limit_is_refused():
    with pytest.raises(msgspec.ValidationError, match=r'^per_session: "20/minut" is not a rate limit'):
        options(per_session=["20/minut"])


def test_the_core_reports_the_section():
    config = decode({"rate_limit": {"type": "limits", "per_ip": ["60/minit"]}})
    with pytest.raises(ConfigError) as caught:
        build_limiter(config)
    message = str(caught.value)
    assert message.startswith("rate_limit")
    assert 'per_ip: "60/minit" is not a rate limit' in message


def test_two_limits_over_one_window_are_refused():
    with pytest.raises(msgspec.ValidationError, match="per_ip: two limits share one window"):
        options(per_ip=["10/minute", "20 per 1 minute"])


@pytest.mark.parametrize(("table", "message"), [
    ({"strategy": "token-bucket"}, "strategy"),
    ({"on_storage_error": "maybe"}, "on_storage_error"),
    ({"storage": "memcached://127.0.0.1:11211"}, "storage: memcached:// is not a supported"),
    ({"routes": {"chats": 1}}, "routes: unknown route 'chats'"),
    ({"routes": {"chat": 0}}, "routes: the cost of 'chat' must be at least 1"),
    ({"timeout": 0}, "timeout must be greater than 0"),
    ({"max_connections": 0}, "max_connections at least 1"),
    ({"ipv6_prefix": 129}, "ipv6_prefix must be between 1 and 128"),
    ({"per_minute": 5}, "unknown field `per_minute`"),
])
def test_other_bad_keys_are_refused(table, message):
    with pytest.raises(msgspec.ValidationError, match=message):
        options(**table)


@pytest.mark.parametrize("storage", ["memory://", "redis://127.0.0.1:6379/0", "rediss://user:pw@cache:6380/2",
                                     "valkey://127.0.0.1:6379"])
def test_storage_urls_accepted(storage):
    LimitsLimiter(options(storage=storage))


def test_installed_plugin_is_found_by_type():
    config = decode({"rate_limit": {"type": "limits", "per_ip": ["3/minute"]}})
    limiter, type_name = build_limiter(config)
    assert type_name == "limits"
    assert isinstance(limiter, LimitsLimiter)
    assert limiter.options.per_ip == ["3/minute"]

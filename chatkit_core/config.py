"""chatkit.toml: loading, ``${VAR}`` interpolation, environment overrides, validation.

The core's own sections are msgspec Structs. The tables that belong to plugins
(``[providers.*]``, ``[rate_limit]``, ``[sessions]``, ``[knowledge]``) stay raw here and are decoded into
the registered class's ``Options`` when the app is assembled (chatkit_core.assembly).
Precedence: command-line flags, then environment variables, then the file, then defaults.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from pathlib import Path
from typing import Any

import msgspec


class ConfigError(Exception):
    """A configuration problem, phrased for the operator: it names the key and what is allowed."""


class ServerConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    allowed_origins: list[str] = msgspec.field(default_factory=lambda: ["http://localhost:8080"])
    trusted_proxies: list[str] = msgspec.field(default_factory=list)
    max_body_bytes: int = 64 * 1024
    max_message_chars: int = 4000
    web_root: str = ""
    """Folder served at ``/``; empty: ``web/`` beside the working directory or the source tree."""
    widget_root: str = ""
    """Folder served at ``/widget``; empty: ``widget/``, found the same way."""
    hsts: bool = False
    """Send Strict-Transport-Security (turn on when served over HTTPS)."""
    site_keys: dict[str, list[str]] = msgspec.field(default_factory=dict)
    """Publishable site keys: salted hash -> origins allowed to use it. Empty: no key needed."""

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError(f"port must be between 1 and 65535, got {self.port}")
        if self.workers < 1:
            raise ValueError("workers must be at least 1")
        if self.max_body_bytes < 1024 or self.max_message_chars < 1:
            raise ValueError("max_body_bytes must be at least 1024 and max_message_chars at least 1")
        for proxy in self.trusted_proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(f"trusted_proxies: {proxy!r} is not an address or network like "
                                 "\"10.0.0.0/8\"") from None
        for origin in self.allowed_origins:
            if origin != "*" and not re.fullmatch(r"https?://[^/\s]+", origin):
                raise ValueError(f"allowed_origins: {origin!r} is not an origin like \"https://example.com\"")


class ChainConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    order: list[str] = msgspec.field(default_factory=list)
    """Provider names, tried in this order. Empty: the providers in the order the file lists them."""
    deadline: float = 300.0
    """Longest a whole answer may take, fallbacks included, seconds."""
    retries: int = 1
    """Extra attempts on the same provider after a retryable failure."""
    backoff: float = 0.2
    backoff_max: float = 2.0
    max_retry_after: float = 10.0
    """A Retry-After longer than this fails over instead of waiting."""
    breaker_failures: int = 3
    """Consecutive failures that open a provider's circuit."""
    breaker_cooldown: float = 30.0
    """Seconds an open circuit waits before one probe request."""

    def __post_init__(self) -> None:
        if self.retries < 0 or self.breaker_failures < 1:
            raise ValueError("retries must be >= 0 and breaker_failures >= 1")
        if min(self.deadline, self.backoff_max, self.breaker_cooldown) <= 0 or self.backoff < 0:
            raise ValueError("deadline, backoff_max and breaker_cooldown must be > 0, backoff >= 0")


DEFAULT_MAX_TOKENS = 512
"""About 400 words: room for a full answer, never a runaway one filling the model's context."""


class ChatConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    system_prompt: str = ""
    history: int = 20
    """Most recent messages sent to the provider with each question."""
    max_tokens: int = DEFAULT_MAX_TOKENS
    """Most tokens in one answer, for providers that set no ``max_tokens`` of their own; 0: no cap."""

    def __post_init__(self) -> None:
        if self.history < 1:
            raise ValueError("history must be at least 1")
        if self.max_tokens < 0:
            raise ValueError("max_tokens must be 0 (no cap) or more")


class OrderConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    order: list[str] = msgspec.field(default_factory=list)
    disabled: list[str] = msgspec.field(default_factory=list)


class LoggingConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    level: str = "info"
    format: str = "json"
    """``json`` or ``console``."""

    def __post_init__(self) -> None:
        self.level = self.level.lower()
        if self.level not in ("debug", "info", "warning", "error", "critical"):
            raise ValueError(f"level must be one of debug, info, warning, error, critical; got {self.level!r}")
        if self.format not in ("json", "console"):
            raise ValueError(f"format must be json or console, got {self.format!r}")


class Config(msgspec.Struct, kw_only=True):
    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    chain: ChainConfig = msgspec.field(default_factory=ChainConfig)
    chat: ChatConfig = msgspec.field(default_factory=ChatConfig)
    sanitizers: OrderConfig = msgspec.field(default_factory=OrderConfig)
    middleware: OrderConfig = msgspec.field(default_factory=OrderConfig)
    logging: LoggingConfig = msgspec.field(default_factory=LoggingConfig)
    providers: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    rate_limit: dict[str, Any] = msgspec.field(default_factory=dict)
    sessions: dict[str, Any] = msgspec.field(default_factory=dict)
    knowledge: dict[str, Any] = msgspec.field(default_factory=dict)
    """Empty: no knowledge base, answers are not grounded in the site's pages."""
    source: str = "built-in defaults"


_SECTIONS = {
    "server": ServerConfig, "chain": ChainConfig, "chat": ChatConfig, "sanitizers": OrderConfig,
    "middleware": OrderConfig, "logging": LoggingConfig,
}
_TABLES = ("providers", "rate_limit", "sessions", "knowledge")


def find_config_path(explicit: str | None = None) -> Path | None:
    """``--config``, then ``$CHATKIT_CONFIG``, then ``./chatkit.toml``; None means defaults."""
    chosen = explicit or os.environ.get("CHATKIT_CONFIG")
    if chosen:
        path = Path(chosen)
        if not path.is_file():
            raise ConfigError(f"config file {chosen} does not exist")
        return path
    local = Path("chatkit.toml")
    return local if local.is_file() else None


def load_config(path: str | Path | None = None, environ: dict[str, str] | None = None) -> Config:
    environ = dict(os.environ if environ is None else environ)
    found = find_config_path(str(path) if path else None)
    if found is None:
        raw, source = default_tables(environ), "built-in defaults"
    else:
        raw, source = _read_toml(found), str(found)
    raw = interpolate(raw, environ)
    apply_environment(raw, environ)
    config = decode(raw)
    config.source = source
    return config


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot be read: {error}") from None


def default_tables(environ: dict[str, str]) -> dict[str, Any]:
    """No file: Ollama, then OpenAI when ``OPENAI_API_KEY`` is set."""
    providers: dict[str, Any] = {"ollama": {"type": "ollama"}}
    if environ.get("OPENAI_API_KEY"):
        providers["openai"] = {"type": "openai"}
    return {"providers": providers, "chain": {"order": list(providers)}}


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def interpolate(value: Any, environ: dict[str, str]) -> Any:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in every string; an unset VAR becomes ""."""
    if isinstance(value, str):
        return _VAR.sub(lambda m: environ.get(m[1]) or (m[2] or ""), value)
    if isinstance(value, dict):
        return {key: interpolate(item, environ) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, environ) for item in value]
    return value


# Provider keys that the seed's variables override, by provider type. They apply when the
# chain holds exactly one provider of that type (with several, the file must say which).
PROVIDER_ENV = {
    "ollama": {"OLLAMA_BASE_URL": "base_url", "OLLAMA_MODEL": "model"},
    "openai": {"OPENAI_API_KEY": "api_key", "OPENAI_BASE_URL": "base_url", "OPENAI_MODEL": "model"},
}


def apply_environment(raw: dict[str, Any], environ: dict[str, str]) -> None:
    server = raw.setdefault("server", {})
    if environ.get("PORT"):
        server["port"] = _env_int(environ, "PORT")
    if environ.get("ALLOWED_ORIGINS"):
        server["allowed_origins"] = [o.strip() for o in environ["ALLOWED_ORIGINS"].split(",") if o.strip()]
    if environ.get("LOG_LEVEL"):
        raw.setdefault("logging", {})["level"] = environ["LOG_LEVEL"]
    providers = raw.get("providers", {})
    for type_name, keys in PROVIDER_ENV.items():
        matching = [table for table in providers.values() if isinstance(table, dict) and table.get("type") == type_name]
        if len(matching) == 1:
            for var, key in keys.items():
                if environ.get(var):
                    matching[0][key] = environ[var]
    _apply_rate_env(raw, environ)
    if environ.get("REDIS_URL"):
        raw.setdefault("rate_limit", {})["storage"] = environ["REDIS_URL"]
        sessions = raw.setdefault("sessions", {})
        if sessions.get("store") == "redis" and not sessions.get("url"):
            sessions["url"] = environ["REDIS_URL"]


def _apply_rate_env(raw: dict[str, Any], environ: dict[str, str]) -> None:
    for var, period in (("RATE_LIMIT_REQUESTS_PER_MINUTE", "minute"), ("RATE_LIMIT_REQUESTS_PER_HOUR", "hour")):
        if not environ.get(var):
            continue
        count = _env_int(environ, var)
        table = raw.setdefault("rate_limit", {})
        limits = [item for item in table.get("per_ip", ["60/minute", "1000/hour"]) if not item.endswith(f"/{period}")]
        table["per_ip"] = [f"{count}/{period}", *limits]


def _env_int(environ: dict[str, str], name: str) -> int:
    try:
        return int(environ[name])
    except ValueError:
        raise ConfigError(f"environment variable {name} must be a whole number, got {environ[name]!r}") from None


def decode(raw: dict[str, Any]) -> Config:
    unknown = sorted(set(raw) - set(_SECTIONS) - set(_TABLES))
    if unknown:
        allowed = ", ".join(sorted([*_SECTIONS, *_TABLES]))
        raise ConfigError(f"unknown section [{unknown[0]}]; allowed sections: {allowed}")
    sections = {name: convert(raw.get(name, {}), kind, name) for name, kind in _SECTIONS.items()}
    tables = {}
    for name in _TABLES:
        table = raw.get(name, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{name}: must be a table")
        tables[name] = table
    for name, table in tables["providers"].items():
        if not isinstance(table, dict):
            raise ConfigError(f"providers.{name}: must be a table like [providers.{name}] with a type key")
    return Config(**sections, **tables)


_AT = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)


def convert(value: Any, kind: type, key: str) -> Any:
    """``msgspec.convert`` with errors rewritten to name the config key and the allowed keys."""
    try:
        return msgspec.convert(value, kind)
    except msgspec.ValidationError as error:
        raise ConfigError(explain(error, key, kind)) from None


def explain(error: msgspec.ValidationError, key: str, kind: type) -> str:
    match = _AT.match(str(error))
    assert match is not None
    message, path = match["message"], (match["path"] or "")
    where = key + path if not path.startswith("[") else f"{key}{path}"
    unknown = re.match(r"Object contains unknown field `([^`]+)`", message)
    if unknown and not path and hasattr(kind, "__struct_fields__"):
        allowed = ", ".join(kind.__struct_fields__)
        return f"{key}: unknown key `{unknown[1]}`; allowed keys: {allowed}"
    return join_key(where, message)


def join_key(key: str, message: str) -> str:
    """``key: field: problem`` from a validator becomes ``key.field: problem``."""
    field = re.match(r"^([a-z_]+): (.*)$", message, re.S)
    return f"{key}.{field[1]}: {field[2]}" if field else f"{key}: {message}"

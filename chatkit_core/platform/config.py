"""chatkit.toml: loading, ``${VAR}`` interpolation, environment overrides, validation.

The core's own sections are msgspec Structs. The tables that belong to plugins
(``[providers.*]``, ``[rate_limit]``, ``[sessions]``, ``[knowledge]``, ``[cache]``) and the
``[experiments.*]`` that override them stay raw here and are decoded into
the registered class's ``Options`` when the app is assembled (chatkit_core.platform.assembly).
Precedence: command-line flags, then environment variables, then the file, then defaults.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from pathlib import Path
from typing import Any, ClassVar

import msgspec

from chatkit_core.chat.chain import ChainConfig
from chatkit_core.chat.handoff import HandoffConfig
from chatkit_core.chat.turn import ChatConfig
from chatkit_core.chat.uploads import UploadsConfig
from chatkit_core.durations import parse_duration
from chatkit_core.platform import environment


class ConfigError(Exception):
    """A configuration problem, phrased for the operator: it names the key and what is allowed."""


class ServerConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    config_paths: ClassVar[tuple[str, ...]] = ("web_root", "widget_root")
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    allowed_origins: list[str] = msgspec.field(default_factory=lambda: ["http://localhost:8080"])
    trusted_proxies: list[str] = msgspec.field(default_factory=list)
    max_body_bytes: int = 64 * 1024
    max_message_chars: int = 4000
    web_root: str = ""
    """Folder of a site served at ``/`` (the demo's); empty: none, ``/`` is 404."""
    widget_root: str = ""
    """Folder served at ``/widget``; empty: ``widget/``, found the same way."""
    hsts: bool = False
    """Send Strict-Transport-Security (turn on when served over HTTPS)."""

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


class OrderConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    order: list[str] = msgspec.field(default_factory=list)
    disabled: list[str] = msgspec.field(default_factory=list)


class MiddlewareConfig(OrderConfig, kw_only=True, forbid_unknown_fields=True):
    tables: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    """The ``[middleware.NAME]`` tables, each owned by the middleware NAME (its factory's Options)."""


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


class AdminConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    token: str = ""
    """Signs the operator in to the console at ``/admin``. Empty: no console (404)."""
    retention: str | float = ""
    """Conversations idle this long are erased (e.g. ``"30d"``). Empty: kept for the session ttl."""
    sign_in_ttl: str | float = "12h"
    """How long a console sign-in lasts."""

    def __post_init__(self) -> None:
        if self.token and (len(self.token.strip()) < 16 or len(set(self.token)) < 8):
            raise ValueError("token: must be at least 16 characters, at least 8 of them different, not spaces "
                             "(use a long random string: openssl rand -hex 24)")
        for key in ("retention", "sign_in_ttl"):
            if getattr(self, key) != "":
                try:
                    parse_duration(getattr(self, key))
                except ValueError as error:
                    raise ValueError(f"{key}: {error}") from None


class Config(msgspec.Struct, kw_only=True):
    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    chain: ChainConfig = msgspec.field(default_factory=ChainConfig)
    chat: ChatConfig = msgspec.field(default_factory=ChatConfig)
    sanitizers: OrderConfig = msgspec.field(default_factory=OrderConfig)
    middleware: MiddlewareConfig = msgspec.field(default_factory=MiddlewareConfig)
    logging: LoggingConfig = msgspec.field(default_factory=LoggingConfig)
    admin: AdminConfig = msgspec.field(default_factory=AdminConfig)
    handoff: HandoffConfig = msgspec.field(default_factory=HandoffConfig)
    uploads: UploadsConfig = msgspec.field(default_factory=UploadsConfig)
    """Files visitors may attach; off unless ``enabled = true``."""
    providers: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    rate_limit: dict[str, Any] = msgspec.field(default_factory=dict)
    sessions: dict[str, Any] = msgspec.field(default_factory=dict)
    knowledge: dict[str, Any] = msgspec.field(default_factory=dict)
    """Empty: no knowledge base, answers are not grounded in the site's pages."""
    cache: dict[str, Any] = msgspec.field(default_factory=dict)
    """The answer cache; off unless ``enabled = true``."""
    experiments: dict[str, Any] = msgspec.field(default_factory=dict)
    """``[experiments.NAME]`` tables, checked and built by :mod:`chatkit_core.platform.variants`."""
    source: str = "built-in defaults"
    folder: str = ""
    """The config file's folder, which relative paths in it start from; empty: the working directory."""


_SECTIONS = {
    "server": ServerConfig, "chain": ChainConfig, "chat": ChatConfig, "sanitizers": OrderConfig,
    "logging": LoggingConfig, "admin": AdminConfig, "handoff": HandoffConfig,
    "uploads": UploadsConfig,
}
_TABLES = ("providers", "rate_limit", "sessions", "knowledge", "cache", "experiments")


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
    folder = str(found.resolve().parent) if found is not None else ""
    config = decode(raw, folder)
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
    """No file: the chain that installed provider types declare (``default_chain``)."""
    from chatkit_core.platform.plugins import collect

    types = {name: cls for name, (cls, _) in collect("register_providers").items()}
    providers = environment.default_providers(types, environ)
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


def apply_environment(raw: dict[str, Any], environ: dict[str, str]) -> None:
    """The core's own variables, then those each plugin's Options declares."""
    server = raw.setdefault("server", {})
    if environ.get("PORT"):
        server["port"] = _env_int(environ, "PORT")
    if environ.get("ALLOWED_ORIGINS"):
        server["allowed_origins"] = [o.strip() for o in environ["ALLOWED_ORIGINS"].split(",") if o.strip()]
    if environ.get("LOG_LEVEL"):
        raw.setdefault("logging", {})["level"] = environ["LOG_LEVEL"]
    try:
        _apply_plugin_environment(raw, environ)
    except environment.EnvError as error:
        raise ConfigError(str(error)) from None


def _apply_plugin_environment(raw: dict[str, Any], environ: dict[str, str]) -> None:
    from chatkit_core.platform.plugins import collect

    providers = raw.get("providers", {})
    tables = [table for table in providers.values() if isinstance(table, dict)] if isinstance(providers, dict) else []
    for type_name, (cls, _) in collect("register_providers").items():
        matching = [table for table in tables if table.get("type") == type_name]
        if len(matching) == 1:
            environment.apply(matching[0], cls.Options, environ)
    for section, hook_name, type_key, default in _SINGLE_TABLES:
        table = raw.get(section, {})
        if not isinstance(table, dict) or (section == "knowledge" and not table):
            continue
        types = collect(hook_name)
        type_name = table.get(type_key) or (default if default or len(types) != 1 else next(iter(types)))
        if type_name in types:
            environment.apply(table, types[type_name][0].Options, environ)
            if table:
                raw[section] = table


# Tables configuring one plugin each: section, hook, the key naming the type, its default.
_SINGLE_TABLES = (
    ("rate_limit", "register_rate_limiters", "type", ""),
    ("sessions", "register_session_stores", "store", "memory"),
    ("knowledge", "register_retrievers", "type", ""),
    ("cache", "register_answer_caches", "type", "memory"),
)


def _env_int(environ: dict[str, str], name: str) -> int:
    try:
        return int(environ[name])
    except ValueError:
        raise ConfigError(f"environment variable {name} must be a whole number, got {environ[name]!r}") from None


def decode(raw: dict[str, Any], folder: str = "") -> Config:
    unknown = sorted(set(raw) - {*_SECTIONS, *_TABLES, "middleware"})
    if unknown:
        allowed = ", ".join(sorted([*_SECTIONS, *_TABLES, "middleware"]))
        raise ConfigError(f"unknown section [{unknown[0]}]; allowed sections: {allowed}")
    if isinstance(raw.get("server"), dict) and "site_keys" in raw["server"]:
        raise ConfigError("server.site_keys has moved: write the same table as [middleware.site_keys.keys]")
    sections: dict[str, Any] = {name: with_paths(convert(raw.get(name, {}), kind, name), folder)
                                for name, kind in _SECTIONS.items()}
    sections["middleware"] = _middleware(raw.get("middleware", {}))
    tables: dict[str, Any] = {}
    for name in _TABLES:
        table = raw.get(name, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{name}: must be a table")
        tables[name] = table
    for name, table in tables["providers"].items():
        if not isinstance(table, dict):
            raise ConfigError(f"providers.{name}: must be a table like [providers.{name}] with a type key")
    return Config(**sections, **tables, folder=folder)


def _middleware(raw: Any) -> MiddlewareConfig:
    """``order`` and ``disabled``, and each ``[middleware.NAME]`` table kept raw for its owner."""
    if not isinstance(raw, dict):
        raise ConfigError("middleware: must be a table")
    scalars = {key: value for key, value in raw.items() if not isinstance(value, dict)}
    if "tables" in scalars:
        raise ConfigError("middleware: unknown key `tables`; allowed keys: order, disabled, [middleware.NAME] tables")
    middleware = convert(scalars, MiddlewareConfig, "middleware")
    middleware.tables = {key: value for key, value in raw.items() if isinstance(value, dict)}
    return middleware


_AT = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)


def options(config: Config, table: dict[str, Any], kind: type, key: str) -> Any:
    """A plugin's table decoded into its ``Options``, its paths relative to the config file."""
    return with_paths(convert(table, kind, key), config.folder)


_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.I)


def with_paths(decoded: Any, folder: str) -> Any:
    """``decoded`` with the fields its ``config_paths`` names made absolute against ``folder``,
    defaults included: a relative path, ``~/…``, or the path of a ``sqlite:///`` URL; other URLs
    and absolute paths are left as they are, lists item by item, tables key by key. No folder (no config
    file): relative to the working directory, as written."""
    if not folder:
        return decoded
    for key in getattr(decoded, "config_paths", ()):
        value = getattr(decoded, key)
        if isinstance(value, str):
            setattr(decoded, key, _absolute(value, folder))
        elif isinstance(value, list):
            setattr(decoded, key, [_absolute(item, folder) if isinstance(item, str) else item for item in value])
        elif isinstance(value, dict):  # a table keyed by paths
            setattr(decoded, key, {_absolute(name, folder): item for name, item in value.items()})
    return decoded


def _absolute(value: str, folder: str) -> str:
    if value.startswith("sqlite:///"):  # sqlite:///relative/file, sqlite:////absolute/file
        path = value.removeprefix("sqlite:///")
        relative = path and not path.startswith("/") and path != ":memory:"
        return "sqlite:///" + _absolute(path, folder) if relative else value
    if not value or _URL.match(value):
        return value
    return os.path.normpath(os.path.join(folder, os.path.expanduser(value)))


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
    # A validator's "top_k must be at least 1" names its field first: say which key it is.
    named = re.match(r"^([a-z_]+) (?:must|is|are|should|cannot|needs?)\b", message)
    if named and not path and named[1] in getattr(kind, "__struct_fields__", ()):
        return f"{key}.{named[1]}: {message}"
    return join_key(where, message)


def join_key(key: str, message: str) -> str:
    """``key: field: problem`` from a validator becomes ``key.field: problem``."""
    field = re.match(r"^([a-z_]+): (.*)$", message, re.S)
    return f"{key}.{field[1]}: {field[2]}" if field else f"{key}: {message}"

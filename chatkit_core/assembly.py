"""Turning a Config and the installed plugins into the running pieces.

Selection and order come from the config only, with documented defaults, never from the
order in which plugins were discovered:

- providers: ``chain.order``, else the ``[providers.*]`` tables in file order;
- sanitizers: ``sanitizers.order``, else ``html`` then the others by name;
- middleware: ``middleware.order`` first, then ``DEFAULT_MIDDLEWARE`` (outermost first),
  then any other registered middleware by name; ``disabled`` names are left out;
- rate limiter: ``rate_limit.type``, else the only one installed (none installed: no limits);
- session store: ``sessions.store`` (default ``memory``);
- knowledge retriever: ``knowledge.type``; no ``[knowledge]`` table, no retriever.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import structlog

from chatkit_core.config import Config, ConfigError, convert, join_key
from chatkit_core.knowledge import Knowledge, Retriever
from chatkit_core.plugins import collect
from chatkit_core.providers import Provider
from chatkit_core.ratelimit import RateLimiter
from chatkit_core.sanitize import Sanitizers
from chatkit_core.sessions import SessionStore

log = structlog.get_logger("chatkit.assembly")

DEFAULT_MIDDLEWARE = ("access_log", "security_headers", "cors", "site_keys")
DEFAULT_SANITIZERS = ("html",)


@dataclass
class Components:
    config: Config
    providers: list[Provider]
    provider_types: dict[str, str]
    store: SessionStore
    store_type: str
    limiter: RateLimiter | None
    limiter_type: str
    sanitizers: Sanitizers
    sanitizer_names: list[str]
    middleware: list[tuple[str, Any]]
    knowledge: Knowledge | None = None
    warnings: list[str] = field(default_factory=list)

    async def start(self) -> None:
        for part in self._parts():
            await part.start()

    async def close(self) -> None:
        for part in reversed(self._parts()):
            try:
                await part.close()
            except Exception:  # one failing close must not keep the others open
                log.exception("close_failed", part=type(part).__name__)

    def _parts(self) -> list[Any]:
        optional = [part for part in (self.limiter, self.knowledge and self.knowledge.retriever) if part]
        return [*self.providers, self.store, *optional]


def assemble(config: Config) -> Components:
    warnings: list[str] = []
    providers, provider_types = build_providers(config, warnings)
    store, store_type = build_store(config)
    limiter, limiter_type = build_limiter(config)
    sanitizer_names, sanitizers = build_sanitizers(config)
    return Components(
        config=config, providers=providers, provider_types=provider_types, store=store, store_type=store_type,
        limiter=limiter, limiter_type=limiter_type, sanitizers=Sanitizers(sanitizers),
        sanitizer_names=sanitizer_names, middleware=build_middleware(config), knowledge=build_knowledge(config),
        warnings=warnings,
    )


def build_providers(config: Config, warnings: list[str]) -> tuple[list[Provider], dict[str, str]]:
    types = collect("register_providers")
    installed = ", ".join(types) or "none (pip install a provider plugin such as chatkit-ollama)"
    order = config.chain.order or list(config.providers)
    if not order:
        raise ConfigError("no providers: add a [providers.NAME] table and list NAME in chain.order")
    providers: list[Provider] = []
    for name in order:
        table = config.providers.get(name)
        if table is None:
            defined = ", ".join(config.providers) or "none"
            raise ConfigError(f"chain.order names {name!r} but there is no [providers.{name}] table "
                              f"(defined providers: {defined})")
        type_name = table.get("type")
        if not type_name:
            raise ConfigError(f"providers.{name}.type is missing; installed provider types: {installed}")
        if type_name not in types:
            raise ConfigError(f"providers.{name}.type: unknown provider type {type_name!r}; "
                              f"installed provider types: {installed}")
        cls: type[Provider] = types[type_name][0]
        provider = cls(name, convert(table, cls.Options, f"providers.{name}"))
        problems = provider.problems()
        if problems:
            warnings.extend(f"providers.{name}: {problem}; left out of the chain" for problem in problems)
            continue
        providers.append(provider)
    if not providers:
        raise ConfigError("no usable provider: " + "; ".join(warnings))
    unused = [name for name in config.providers if name not in order]
    warnings.extend(f"providers.{name} is not in chain.order and is not used" for name in unused)
    return providers, {p.name: config.providers[p.name]["type"] for p in providers}


def build_store(config: Config) -> tuple[SessionStore, str]:
    types = collect("register_session_stores")
    type_name = config.sessions.get("store", "memory")
    if type_name not in types:
        raise ConfigError(f"sessions.store: unknown session store {type_name!r}; installed stores: "
                          f"{', '.join(types)}")
    cls: type[SessionStore] = types[type_name][0]
    options = convert(config.sessions, cls.Options, "sessions")
    try:
        return cls(options), type_name
    except ValueError as error:
        raise ConfigError(join_key("sessions", str(error))) from None


def build_limiter(config: Config) -> tuple[RateLimiter | None, str]:
    types = collect("register_rate_limiters")
    type_name = config.rate_limit.get("type", "")
    if type_name == "none":
        return None, "none"
    if not type_name:
        if not types:
            return None, "none"
        if len(types) > 1:
            raise ConfigError(f"rate_limit.type: several rate limiters are installed ({', '.join(types)}); "
                              "name one, or \"none\"")
        type_name = next(iter(types))
    if type_name not in types:
        raise ConfigError(f"rate_limit.type: unknown rate limiter {type_name!r}; installed: "
                          f"{', '.join(types) or 'none'} (or \"none\")")
    cls: type[RateLimiter] = types[type_name][0]
    options = convert({**config.rate_limit, "type": type_name}, cls.Options, "rate_limit")
    try:
        return cls(options), type_name
    except ValueError as error:
        raise ConfigError(join_key("rate_limit", str(error))) from None


def build_knowledge(config: Config) -> Knowledge | None:
    if not config.knowledge:
        return None
    types = collect("register_retrievers")
    installed = ", ".join(types) or "none (pip install chatkit-knowledge)"
    type_name = config.knowledge.get("type")
    if not type_name:
        raise ConfigError(f"knowledge.type is missing; installed retriever types: {installed}")
    if type_name not in types:
        raise ConfigError(f"knowledge.type: unknown retriever type {type_name!r}; "
                          f"installed retriever types: {installed}")
    cls: type[Retriever] = types[type_name][0]
    options = convert(config.knowledge, cls.Options, "knowledge")
    try:
        return Knowledge(cls(options), type_name)
    except ValueError as error:
        raise ConfigError(join_key("knowledge", str(error))) from None


def _ordered(registered: dict[str, Any], chosen: list[str], defaults: tuple[str, ...], disabled: list[str],
             key: str) -> list[str]:
    for name in [*chosen, *disabled]:
        if name not in registered:
            raise ConfigError(f"{key}: unknown name {name!r}; registered: {', '.join(registered)}")
    names = [*chosen, *(n for n in defaults if n in registered), *registered]
    return [n for n in dict.fromkeys(names) if n not in disabled]


def build_sanitizers(config: Config) -> tuple[list[str], list[Any]]:
    registered = collect("register_sanitizers")
    names = _ordered(registered, config.sanitizers.order, DEFAULT_SANITIZERS, config.sanitizers.disabled,
                     "sanitizers.order")
    return names, [registered[name][0] for name in names]


def build_middleware(config: Config) -> list[tuple[str, Any]]:
    registered = collect("register_middleware")
    names = _ordered(registered, config.middleware.order, DEFAULT_MIDDLEWARE, config.middleware.disabled,
                     "middleware.order")
    stack = [(name, registered[name][0](config)) for name in names]
    return [(name, middleware) for name, middleware in stack if middleware is not None]

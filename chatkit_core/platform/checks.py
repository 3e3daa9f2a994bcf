"""What each hook accepts, checked when a plugin registers something.

A plugin's mistake is found at start-up (and by ``chatkit config check`` and ``chatkit
plugins``) with a message naming the plugin, not on the first request that reaches it.
"""

from __future__ import annotations

import argparse
import inspect
import typing
from collections.abc import Callable
from typing import Any

import msgspec

from chatkit_core.chat.answer_cache import AnswerCache, CacheOptions
from chatkit_core.chat.broker import Broker
from chatkit_core.chat.embeddings import Embedder, EmbedderOptions
from chatkit_core.chat.knowledge import Retriever, RetrieverOptions
from chatkit_core.chat.providers import Provider, ProviderOptions
from chatkit_core.chat.ratelimit import RateLimiter, RateLimitOptions
from chatkit_core.chat.sessions import SessionStore, SessionStoreOptions
from chatkit_core.chat.shared_slots import SlotStore
from chatkit_core.platform.commands import Command

KINDS = {
    "register_providers": "provider type",
    "register_sanitizers": "sanitizer",
    "register_rate_limiters": "rate limiter type",
    "register_session_stores": "session store type",
    "register_answer_caches": "answer cache type",
    "register_middleware": "middleware",
    "register_retrievers": "retriever type",
    "register_embedders": "embedder type",
    "register_brokers": "broker type",
    "register_commands": "command",
    "register_concurrency_stores": "concurrency store type",
}


def check(hook_name: str, name: str, thing: Any) -> str | None:
    """What is wrong with registering ``thing`` as ``name`` through ``hook_name``; None if nothing."""
    problem = _CHECKS[hook_name](thing)
    if problem is None and not name.replace("_", "-").replace("-", "").isalnum():
        problem = f"{name!r} is not a usable name (letters, digits, - and _)"
    return problem


def _subclass(base: type, options_base: type, where: str, made_with: tuple[str, ...] = ("options",),
              ) -> Callable[[Any], str | None]:
    """A subclass of ``base`` whose ``Options`` subclass ``options_base``, built as ``cls(*made_with)``."""

    def check_class(thing: Any) -> str | None:
        if not (isinstance(thing, type) and issubclass(thing, base)):
            return f"{_shown(thing)} is not a subclass of {where}.{base.__name__}"
        options = getattr(thing, "Options", None)
        if not (isinstance(options, type) and issubclass(options, options_base)):
            return f"its Options is not a subclass of {where}.{options_base.__name__}"
        return _constructor(thing, made_with)

    return check_class


def _constructor(cls: type, made_with: tuple[str, ...]) -> str | None:
    """Whether ``cls(*made_with)`` can be called, as the core will call it."""
    try:
        inspect.signature(cls).bind(*made_with)
    except TypeError:
        wanted = ", ".join(made_with)
        return f"{cls.__name__}.__init__ must accept ({wanted}), as the core builds it with {cls.__name__}({wanted})"
    except ValueError:  # a signature that cannot be read: nothing to check
        return None
    return None


def _provider(thing: Any) -> str | None:
    problem = _subclass(Provider, ProviderOptions, "chatkit_core.chat.providers", ("name", "options"))(thing)
    if problem is None and thing.stream is Provider.stream:
        problem = f"{thing.__name__} does not implement stream(request)"
    if problem is None and not inspect.isasyncgenfunction(thing.stream):
        problem = (f"{thing.__name__}.stream must be an async generator: write it `async def stream(self, request)` "
                   "and `yield Chunk(...)` for each piece of the answer")
    return problem


def _embedder(thing: Any) -> str | None:
    problem = _subclass(Embedder, EmbedderOptions, "chatkit_core.chat.embeddings")(thing)
    missing = [name for name in ("identity", "embed") if problem is None and getattr(thing, name) is
               getattr(Embedder, name)]
    return problem or (f"{thing.__name__} does not implement {', '.join(missing)}" if missing else None)


def _answer_cache(thing: Any) -> str | None:
    problem = _subclass(AnswerCache, CacheOptions, "chatkit_core.chat.answer_cache")(thing)
    missing = [name for name in ("get", "set", "clear") if problem is None and getattr(thing, name) is
               getattr(AnswerCache, name)]
    return problem or (f"{thing.__name__} does not implement {', '.join(missing)}" if missing else None)


def _slot_store(thing: Any) -> str | None:
    if not (isinstance(thing, type) and issubclass(thing, SlotStore)):
        return f"{_shown(thing)} is not a subclass of chatkit_core.chat.shared_slots.SlotStore"
    if thing.gate is SlotStore.gate:
        return f"{thing.__name__} does not implement gate(provider, limit, max_queue)"
    return _constructor(thing, ("url", "lease"))


def _sanitizer(thing: Any) -> str | None:
    missing = [method for method in ("clean_input", "clean_output") if not callable(getattr(thing, method, None))]
    if isinstance(thing, type):
        return f"{_shown(thing)} is a class: register an instance"
    if missing:
        return f"{_shown(thing)} has no {' or '.join(missing)}(text) method"
    return None


def _command(thing: Any) -> str | None:
    if not isinstance(thing, Command):
        return f"{_shown(thing)} is not a chatkit_core.platform.commands.Command instance"
    if type(thing).run is Command.run:
        return f"{type(thing).__name__} does not implement run(args)"
    try:
        thing.add_arguments(argparse.ArgumentParser(add_help=False))
    except Exception as error:  # the plugin's own code
        return f"its add_arguments(parser) raised {type(error).__name__}: {error}"
    return None


def _middleware(thing: Any) -> str | None:
    if not callable(thing):
        return f"{_shown(thing)} is not a factory: register a callable taking the config"
    try:
        options_type(thing)
    except TypeError as error:
        return str(error)
    return None


def options_type(factory: Callable[..., Any]) -> type[msgspec.Struct] | None:
    """The Options Struct a middleware factory declares, or None for ``factory(config)``.

    A factory ``factory(config, options: SomeOptions)`` gets its ``[middleware.NAME]`` table
    decoded into ``SomeOptions``; ``factory(config)`` takes no table.
    """
    try:
        parameters = list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError) as error:
        raise TypeError(f"its signature cannot be read ({error})") from None
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in parameters if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if len(required) > 2 or not positional:
        raise TypeError(f"{_shown(factory)} must take (config) or (config, options), "
                        f"not ({', '.join(p.name for p in parameters)})")
    if len(positional) < 2:
        return None
    annotation = positional[1].annotation
    if isinstance(annotation, str):  # postponed annotations: resolve only the options one
        try:
            target = getattr(factory, "__init__") if isinstance(factory, type) else factory  # noqa: B009
            annotation = typing.get_type_hints(target).get(positional[1].name)
        except Exception as error:  # NameError and friends, from the plugin's module
            raise TypeError(f"the options annotation of {_shown(factory)} cannot be resolved ({error})") from None
    if not (isinstance(annotation, type) and issubclass(annotation, msgspec.Struct)):
        raise TypeError(f"the options parameter of {_shown(factory)} must be annotated with a msgspec.Struct "
                        "(its [middleware.NAME] table is decoded into it)")
    return annotation


def _broker(thing: Any) -> str | None:
    if not (isinstance(thing, type) and issubclass(thing, Broker)):
        return f"{_shown(thing)} is not a subclass of chatkit_core.chat.broker.Broker"
    return _constructor(thing, ("url",))


def _shown(thing: Any) -> str:
    return getattr(thing, "__qualname__", None) or type(thing).__name__ + " object"


_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "register_providers": _provider,
    "register_sanitizers": _sanitizer,
    "register_rate_limiters": _subclass(RateLimiter, RateLimitOptions, "chatkit_core.chat.ratelimit"),
    "register_session_stores": _subclass(SessionStore, SessionStoreOptions, "chatkit_core.chat.sessions"),
    "register_answer_caches": _answer_cache,
    "register_middleware": _middleware,
    "register_retrievers": _subclass(Retriever, RetrieverOptions, "chatkit_core.chat.knowledge"),
    "register_embedders": _embedder,
    "register_brokers": _broker,
    "register_commands": _command,
    "register_concurrency_stores": _slot_store,
}

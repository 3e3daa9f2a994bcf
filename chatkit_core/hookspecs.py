"""Hook specifications: the points where plugins extend ChatKit.

Every hook is a collector. It receives a ``register`` callable and calls it once for each
thing the plugin contributes. The core decides order and selection from ``chatkit.toml``;
the order in which pluggy calls implementations never matters.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("chatkit")
hookimpl = pluggy.HookimplMarker("chatkit")


@hookspec
def register_providers(register):
    """Register provider types.

    Call ``register(type_name, provider_class)``; ``provider_class`` subclasses
    :class:`chatkit_core.providers.Provider`. Every ``[providers.NAME]`` table whose
    ``type`` is ``type_name`` is decoded into ``provider_class.Options`` and becomes
    ``provider_class(NAME, options)``.
    """


@hookspec
def register_sanitizers(register):
    """Register text sanitizers.

    Call ``register(name, sanitizer)``; ``sanitizer`` has ``clean_input(text) -> str``
    (user messages, before storage) and ``clean_output(text) -> str`` (model output,
    before it is stored or sent). ``[sanitizers] order`` names the order they run in.
    """


@hookspec
def register_rate_limiters(register):
    """Register rate limiter types.

    Call ``register(type_name, limiter_class)``; ``limiter_class`` subclasses
    :class:`chatkit_core.ratelimit.RateLimiter`. ``[rate_limit]`` with ``type = type_name``
    is decoded into ``limiter_class.Options`` and becomes ``limiter_class(options)``.
    """


@hookspec
def register_session_stores(register):
    """Register session store types.

    Call ``register(type_name, store_class)``; ``store_class`` subclasses
    :class:`chatkit_core.sessions.SessionStore`. ``[sessions]`` with ``store = type_name``
    is decoded into ``store_class.Options`` and becomes ``store_class(options)``.
    """


@hookspec
def register_middleware(register):
    """Register named ASGI middleware.

    Call ``register(name, factory)``; ``factory(config)`` receives the resolved
    :class:`chatkit_core.config.Config` and returns Litestar middleware (a
    ``DefineMiddleware`` or an ASGI middleware factory), or ``None`` to stay out of the
    stack. ``[middleware] order`` places it; see docs/configuration.md for the default.
    """


@hookspec
def register_retrievers(register):
    """Register knowledge retriever types.

    Call ``register(type_name, retriever_class)``; ``retriever_class`` subclasses
    :class:`chatkit_core.knowledge.Retriever`. ``[knowledge]`` with ``type = type_name``
    is decoded into ``retriever_class.Options`` and becomes ``retriever_class(options)``.
    Without a ``[knowledge]`` table no retriever is built.
    """


@hookspec
def register_commands(register):
    """Register ``chatkit`` subcommands.

    Call ``register(command)`` with a :class:`chatkit_core.commands.Command`: its ``name``
    and ``help`` appear in ``chatkit --help``, ``add_arguments(parser)`` declares its
    options on an argparse parser, and ``run(args)`` returns the exit status.
    """

"""Hook specifications: the points where plugins extend ChatKit.

Every hook is a collector. It receives a ``register`` callable and calls it once for each
thing the plugin contributes. The core decides order and selection from ``chatkit.toml``;
the order in which pluggy calls implementations never matters.

Each registration is checked when it is made (``chatkit_core.platform.checks``): a thing that is not
what its hook asks for, or a name another plugin registers too, is refused wherever the
config uses it, with a message naming the plugin. docs/plugins.md has an example of each.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("chatkit")
hookimpl = pluggy.HookimplMarker("chatkit")


@hookspec
def register_providers(register):
    """Register provider types.

    Call ``register(type_name, provider_class)``; ``provider_class`` subclasses
    :class:`chatkit_core.chat.providers.Provider` and implements ``stream``; its ``Options``
    subclasses :class:`chatkit_core.chat.providers.ProviderOptions` and may declare ``env`` and
    ``default_chain`` (:mod:`chatkit_core.platform.environment`). Every ``[providers.NAME]`` table whose
    ``type`` is ``type_name`` is decoded into ``provider_class.Options`` and becomes
    ``provider_class(NAME, options)``.
    """


@hookspec
def register_sanitizers(register):
    """Register text sanitizers.

    Call ``register(name, sanitizer)``; ``sanitizer`` is an object (not a class) with
    ``clean_input(text) -> str`` (user messages, before storage) and ``clean_output(text) ->
    str`` (model output: the text so far at each streamed delta, and the whole answer before
    it is stored). Registered sanitizers run unless in ``[sanitizers] disabled``, in
    ``[sanitizers] order``.
    """


@hookspec
def register_rate_limiters(register):
    """Register rate limiter types.

    Call ``register(type_name, limiter_class)``; ``limiter_class`` subclasses
    :class:`chatkit_core.chat.ratelimit.RateLimiter`. ``[rate_limit]`` with ``type = type_name``
    is decoded into ``limiter_class.Options`` and becomes ``limiter_class(options)``.
    """


@hookspec
def register_session_stores(register):
    """Register session store types.

    Call ``register(type_name, store_class)``; ``store_class`` subclasses
    :class:`chatkit_core.chat.sessions.SessionStore`. ``[sessions]`` with ``store = type_name``
    is decoded into ``store_class.Options`` and becomes ``store_class(options)``.
    """


@hookspec
def register_answer_caches(register):
    """Register answer cache types.

    Call ``register(type_name, cache_class)``; ``cache_class`` subclasses
    :class:`chatkit_core.chat.answer_cache.AnswerCache` and implements ``get``, ``set`` and
    ``clear``. ``[cache]`` with ``enabled = true`` and ``type = type_name`` is decoded into
    ``cache_class.Options`` and becomes ``cache_class(options)``.
    """


@hookspec
def register_middleware(register):
    """Register named ASGI middleware.

    Call ``register(name, factory)``; ``factory(config)`` or ``factory(config, options)``
    receives the resolved :class:`chatkit_core.platform.config.Config` and, when its second parameter
    is annotated with a msgspec Struct, the ``[middleware.NAME]`` table decoded into it. It
    returns Litestar middleware (a ``DefineMiddleware`` or an ASGI middleware factory
    ``app -> app``), or ``None`` to stay out of the stack. ``chatkit config check`` calls it.
    Registered middleware runs unless in ``[middleware] disabled``; ``[middleware] order``
    places it; see docs/configuration.md for the default.
    """


@hookspec
def register_retrievers(register):
    """Register knowledge retriever types.

    Call ``register(type_name, retriever_class)``; ``retriever_class`` subclasses
    :class:`chatkit_core.chat.knowledge.Retriever`. ``[knowledge]`` with ``type = type_name``
    is decoded into ``retriever_class.Options`` and becomes ``retriever_class(options)``.
    Without a ``[knowledge]`` table no retriever is built.
    """


@hookspec
def register_embedders(register):
    """Register embedder types (text to vectors, for semantic search of the knowledge base).

    Call ``register(type_name, embedder_class)``; ``embedder_class`` subclasses
    :class:`chatkit_core.chat.embeddings.Embedder` and implements ``identity`` and ``embed``. A
    retriever that uses embeddings decodes its ``[knowledge.embedder]`` table with
    ``type = type_name`` into ``embedder_class.Options`` (see
    :func:`chatkit_core.platform.assembly.build_embedder`).
    """


@hookspec
def register_brokers(register):
    """Register event broker types, by URL scheme.

    Call ``register(scheme, broker_class)``; ``broker_class`` subclasses
    :class:`chatkit_core.chat.broker.Broker` and is built as ``broker_class(url)`` when
    ``[handoff] broker`` is a URL with that scheme (a ``ValueError`` names what is wrong with it).
    It carries handoff events between instances: ``publish`` sends, ``deliver`` hands what
    arrives to this process's streams.
    """


@hookspec
def register_commands(register):
    """Register ``chatkit`` subcommands.

    Call ``register(command)`` with an instance of a :class:`chatkit_core.platform.commands.Command`
    subclass: its ``name`` and ``help`` appear in ``chatkit --help``, ``add_arguments(parser)``
    declares its options on an argparse parser (``--config`` is already there), and
    ``run(args)`` returns the exit status. A command whose ``add_arguments`` fails is left
    out of the CLI and reported by ``chatkit plugins``.
    """


@hookspec
def register_concurrency_stores(register):
    """Register concurrency store types, by the URL scheme each serves.

    Call ``register(scheme, store_class)`` for each scheme (``redis``, ``rediss``…);
    ``store_class`` subclasses :class:`chatkit_core.chat.shared_slots.SlotStore`. ``[chain]
    concurrency_store = "SCHEME://…"`` becomes ``store_class(url, concurrency_lease)``, and
    every provider with ``max_concurrency`` takes its slots from it, shared by every instance.
    """

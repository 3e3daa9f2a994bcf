"""Turning a Config and the installed plugins into the running pieces.

Selection and order come from the config only, with documented defaults, never from the
order in which plugins were discovered:

- providers: ``chain.order``, else the ``[providers.*]`` tables in file order;
- sanitizers: ``sanitizers.order``, else ``html`` then the others by name;
- middleware: ``middleware.order`` first, then ``DEFAULT_MIDDLEWARE`` (outermost first),
  then any other registered middleware by name; ``disabled`` names are left out;
- rate limiter: ``rate_limit.type``, else the only one installed (none installed: no limits);
- session store: ``sessions.store`` (default ``memory``);
- knowledge retriever: ``knowledge.type``; no ``[knowledge]`` table, no retriever;
- answer cache: ``cache.type`` (default ``memory``) when ``cache.enabled``; else none;
- experiments: ``[experiments.NAME]`` tables, each variant built from the base config with its
  overrides (:mod:`chatkit_core.platform.variants`);
- handoff broker: the type registered for ``handoff.broker``'s URL scheme; no URL, in-process;
- concurrency store: the scheme of ``chain.concurrency_store``; empty, each instance counts its own slots;
- attachments: ``uploads.folder`` when set, else the session store (``uploads.enabled``).
"""

from __future__ import annotations

import importlib.util
import traceback
from typing import Any, TypeVar

import structlog

from chatkit_core.chat.answer_cache import AnswerCache, CachedAnswers
from chatkit_core.chat.attachment_folder import FolderAttachments
from chatkit_core.chat.attachments import AttachmentStore
from chatkit_core.chat.broker import Broker
from chatkit_core.chat.chain import Chain
from chatkit_core.chat.embeddings import Embedder
from chatkit_core.chat.experiments import Experiments
from chatkit_core.chat.handoff import HandoffDesk
from chatkit_core.chat.handoff_store import HandoffStore
from chatkit_core.chat.knowledge import Knowledge, Retriever
from chatkit_core.chat.listing import Listing
from chatkit_core.chat.metrics import Metrics
from chatkit_core.chat.providers import Provider
from chatkit_core.chat.ratelimit import RateLimiter
from chatkit_core.chat.sanitize import Sanitizers
from chatkit_core.chat.sessions import SessionStore
from chatkit_core.chat.shared_slots import SlotStore, scheme
from chatkit_core.chat.translate import Translator
from chatkit_core.chat.turn import Conversation
from chatkit_core.chat.uploads import Uploads
from chatkit_core.chat.webhook import Webhook
from chatkit_core.platform.checks import options_type
from chatkit_core.platform.config import Config, ConfigError, convert, join_key, options
from chatkit_core.platform.plugins import PluginError, Registry, clash_message, collect, owner, problems, registry
from chatkit_core.platform.runtime import Runtime
from chatkit_core.platform.variants import build_experiments

log = structlog.get_logger("chatkit.assembly")
T = TypeVar("T")

DEFAULT_MIDDLEWARE = ("access_log", "security_headers", "cors", "site_keys")
DEFAULT_SANITIZERS = ("html",)


def build_runtime(config: Config) -> Runtime:
    """Everything ``config`` asks for, or ConfigError (PluginError for plugin clashes) naming the
    key or the plugin, and the fix. The one place plugins are loaded and assembled; it opens no
    connection (:meth:`Runtime.start` does)."""
    refuse_clashes(config)
    warnings: list[str] = list(problems())
    providers, provider_types = build_providers(config, warnings)
    store, store_type = build_store(config)
    if isinstance(store, Listing):
        store.search_index = bool(config.admin.token)  # the console's word index only when there is a console
    limiter, limiter_type = build_limiter(config)
    sanitizer_names, found = build_sanitizers(config)
    sanitizers = Sanitizers(found)
    knowledge = build_knowledge(config)
    metrics = Metrics()
    chain = Chain(providers, config.chain, metrics, max_tokens=config.chat.max_tokens,
                  slot_store=build_slot_store(config))
    cache = build_cache(config, providers, knowledge, metrics)
    experiments = build_experiments(config, chain, knowledge, cache, warnings)
    warnings.extend(unused_providers(config, experiments))
    uploads = build_uploads(config, store, store_type, sanitizers)
    conversation = Conversation(store=store, chain=chain, sanitizers=sanitizers, metrics=metrics,
                                settings=config.chat, max_message_chars=config.server.max_message_chars,
                                knowledge=knowledge, cache=cache, experiments=experiments, uploads=uploads)
    runtime = Runtime(
        config=config, providers=providers, provider_types=provider_types, store=store, store_type=store_type,
        limiter=limiter, limiter_type=limiter_type, sanitizers=sanitizers, sanitizer_names=sanitizer_names,
        middleware=build_middleware(config), knowledge=knowledge, cache=cache, chain=chain, metrics=metrics,
        conversation=conversation, experiments=experiments, uploads=uploads, warnings=warnings,
        handoff=build_handoff(config, store, conversation, warnings),
    )
    chain.failure_listeners.append(runtime.probes.forget)  # a provider that just failed is probed afresh
    return runtime


def refuse_clashes(config: Config) -> None:
    """Every name the config uses that several plugins register, reported at once."""
    limiter = config.rate_limit.get("type", "")
    slot_store = config.chain.concurrency_store
    used: dict[str, Any] = {
        "register_providers": {table.get("type") for table in config.providers.values()},
        "register_session_stores": {config.sessions.get("store", "memory")},
        "register_rate_limiters": {limiter} if limiter else None,  # None: whichever is installed
        "register_retrievers": {config.knowledge.get("type")} if config.knowledge else set(),
        "register_answer_caches": {config.cache.get("type", "memory")} if config.cache.get("enabled") else set(),
        "register_brokers": {config.handoff.broker.partition(":")[0].lower()} if config.handoff.broker else set(),
        "register_concurrency_stores": {scheme(slot_store)} if slot_store else set(),
        "register_sanitizers": _NotIn(config.sanitizers.disabled),
        "register_middleware": _NotIn(config.middleware.disabled),
    }
    clashes = [clash_message(hook_name, name, plugin_names)
               for hook_name, names in used.items()
               for name, plugin_names in registry(hook_name).clashes.items() if names is None or name in names]
    if clashes:
        raise PluginError("plugins clash:\n  " + "\n  ".join(clashes))


class _NotIn:
    """Every name but the disabled ones: installed sanitizers and middleware are on by default."""

    def __init__(self, disabled: list[str]) -> None:
        self.disabled = disabled

    def __contains__(self, name: object) -> bool:
        return name not in self.disabled


def _pick(found: Registry, name: str, key: str, installed: str) -> Any:
    """The class registered as ``name``, or a ConfigError saying why it cannot be used."""
    problem = found.problem(name)
    if problem:
        raise ConfigError(f"{key}: {problem}")
    if name not in found.entries:
        note = found.unknown()
        raise ConfigError(f"{key}: unknown {found.kind} {name!r}; installed {found.kind}s: {installed}"
                          + (f". Note: {note}" if note else ""))
    return found.entries[name][0]


def _installed(found: Registry, hint: str) -> str:
    return ", ".join(found.entries) or f"none ({hint})"


def build_providers(config: Config, warnings: list[str], prefix: str = "",
                    built: dict[str, Provider] | None = None) -> tuple[list[Provider], dict[str, str]]:
    """The chain's providers, in order. ``prefix`` starts every key an error names (an experiment
    variant's, ``experiments.NAME.variants.VARIANT.``); ``built`` holds instances to reuse by name."""
    found = registry("register_providers")
    installed = _installed(found, "pip install a provider plugin such as chatkit-ollama")
    order = config.chain.order or list(config.providers)
    if not order:
        raise ConfigError("no providers: add a [providers.NAME] table and list NAME in chain.order"
                          + ("" if found.entries else "; no provider plugin is installed (pip install chatkit-ollama)"))
    providers: list[Provider] = []
    for name in order:
        if built and name in built:
            providers.append(built[name])
            continue
        table = config.providers.get(name)
        if table is None:
            defined = ", ".join(config.providers) or "none"
            raise ConfigError(f"{prefix}chain.order names {name!r} but there is no [providers.{name}] table "
                              f"(defined providers: {defined})")
        key = f"{prefix}providers.{name}"
        type_name = table.get("type")
        if not type_name:
            raise ConfigError(f"{key}.type is missing; installed provider types: {installed}")
        cls: type[Provider] = _pick(found, type_name, f"{key}.type", installed)
        provider = _build(key, cls, name, options(config, table, cls.Options, key))
        problems = provider.problems()
        if problems:
            warnings.extend(f"{key}: {problem}; left out of the chain" for problem in problems)
            continue
        providers.append(provider)
    if not providers:
        raise ConfigError(f"{prefix and prefix + 'chain.order: '}no usable provider: "
                          + "; ".join(w for w in warnings if w.startswith(f"{prefix}providers.")))
    return providers, {p.name: config.providers[p.name]["type"] for p in providers}


def unused_providers(config: Config, experiments: Experiments) -> list[str]:
    """Warnings for ``[providers.*]`` tables that neither the chain nor an experiment's variant uses."""
    used = {*(config.chain.order or config.providers), *(p.name for p in experiments.providers())}
    return [f"providers.{name} is not in chain.order and is not used" for name in config.providers if name not in used]


def build_store(config: Config) -> tuple[SessionStore, str]:
    found = registry("register_session_stores")
    type_name = config.sessions.get("store", "memory")
    cls: type[SessionStore] = _pick(found, type_name, "sessions.store", _installed(found, "-"))
    return _build("sessions", cls, options(config, config.sessions, cls.Options, "sessions")), type_name


def build_limiter(config: Config) -> tuple[RateLimiter | None, str]:
    found = registry("register_rate_limiters")
    type_name = config.rate_limit.get("type", "")
    if type_name == "none":
        return None, "none"
    if not type_name:
        # A limiter that is installed but broken or clashing still counts: never run unlimited by mistake.
        names = [*found.entries, *found.invalid, *found.clashes]
        if not names:
            return None, "none"
        if len(names) > 1:
            raise ConfigError(f"rate_limit.type: several rate limiters are installed ({', '.join(names)}); "
                              "name one, or \"none\"")
        type_name = names[0]
    cls: type[RateLimiter] = _pick(found, type_name, "rate_limit.type", f"{_installed(found, '-')} (or \"none\")")
    decoded = options(config, {**config.rate_limit, "type": type_name}, cls.Options, "rate_limit")
    return _build("rate_limit", cls, decoded), type_name


def build_knowledge(config: Config) -> Knowledge | None:
    if not config.knowledge:
        return None
    found = registry("register_retrievers")
    installed = _installed(found, "pip install chatkit-knowledge")
    type_name = config.knowledge.get("type")
    if not type_name:
        raise ConfigError(f"knowledge.type is missing; installed retriever types: {installed}")
    cls: type[Retriever] = _pick(found, type_name, "knowledge.type", installed)
    return Knowledge(_build("knowledge", cls, options(config, config.knowledge, cls.Options, "knowledge")), type_name)


def build_embedder(table: dict[str, Any], where: str = "knowledge.embedder") -> Embedder:
    """The embedder a ``[knowledge.embedder]`` table configures; ConfigError names what to change."""
    registered = collect("register_embedders")
    type_name = table.get("type")
    if type_name not in registered:
        known = ", ".join(sorted(registered)) or "none installed"
        raise ConfigError(f"{where}.type is {type_name!r}; embedder types: {known}")
    embedder_class: type[Embedder] = registered[type_name][0]
    return embedder_class(convert(table, embedder_class.Options, where))


def build_cache(config: Config, providers: list[Provider], knowledge: Knowledge | None,
                metrics: Metrics) -> CachedAnswers | None:
    if config.cache.get("enabled") is not True:
        if config.cache.get("enabled", False) is not False:
            raise ConfigError("cache.enabled: must be true or false")
        return None
    found = registry("register_answer_caches")
    type_name = config.cache.get("type", "memory")
    cls: type[AnswerCache] = _pick(found, type_name, "cache.type", _installed(found, "-"))
    cache = _build("cache", cls, options(config, config.cache, cls.Options, "cache"))
    return CachedAnswers(cache, type_name, config.chat.system_prompt, providers, knowledge, config.chat.history,
                         metrics)


def build_handoff(config: Config, store: SessionStore, conversation: Conversation,
                  warnings: list[str]) -> HandoffDesk | None:
    settings = config.handoff
    if not settings.enabled:
        return None
    if not isinstance(store, HandoffStore):
        raise ConfigError(f"handoff.enabled: the {config.sessions.get('store', 'memory')} session store cannot keep "
                          "handoffs; use memory, sqlite or redis, or set handoff.enabled = false")
    broker = Broker()
    if settings.broker:
        found = registry("register_brokers")
        scheme = settings.broker.partition(":")[0].lower()
        cls: type[Broker] = _pick(found, scheme, "handoff.broker", _installed(found, "pip install chatkit-redis"))
        broker = _build("handoff.broker", cls, settings.broker)
    elif config.server.workers > 1 or config.sessions.get("store", "memory") not in ("memory", "sqlite"):
        warnings.append("handoff.broker is not set: events reach streams on other workers or instances only at "
                        "the next heartbeat; set it to a Redis URL")
    webhook = Webhook(settings.webhook, settings.webhook_secret, attempts=settings.webhook_attempts,
                      backoff=settings.webhook_backoff, timeout=settings.webhook_timeout) if settings.webhook else None
    return HandoffDesk(store=store, conversation=conversation, broker=broker, config=settings, webhook=webhook,
                       translator=Translator(conversation.chain, conversation.sanitizers))


def build_slot_store(config: Config) -> SlotStore | None:
    url = config.chain.concurrency_store
    if not url:
        return None
    found = registry("register_concurrency_stores")
    installed = _installed(found, "pip install chatkit-redis")
    kind = scheme(url)
    if not kind:
        raise ConfigError(f"chain.concurrency_store: not a URL; use e.g. \"redis://127.0.0.1:6379/0\" "
                          f"(schemes installed: {installed})")
    cls: type[SlotStore] = _pick(found, kind, "chain.concurrency_store", installed)
    return _build("chain.concurrency_store", cls, url, config.chain.concurrency_lease)


# What reading each kind of upload needs (``pip install 'chatkit-core[uploads]'``).
_READERS = {"png": ("PIL", "Pillow"), "jpeg": ("PIL", "Pillow"), "webp": ("PIL", "Pillow"), "pdf": ("pypdf", "pypdf"),
            "text": ("charset_normalizer", "charset-normalizer"),
            "markdown": ("charset_normalizer", "charset-normalizer")}


def build_uploads(config: Config, store: SessionStore, store_type: str, sanitizers: Sanitizers) -> Uploads | None:
    settings = config.uploads
    if not settings.enabled:
        return None
    missing = sorted({_READERS[kind][1] for kind in settings.types
                      if importlib.util.find_spec(_READERS[kind][0]) is None})
    if missing:
        raise ConfigError(f"uploads.enabled: reading the accepted types needs {', '.join(missing)}: "
                          "pip install 'chatkit-core[uploads]' (or leave those out of uploads.types)")
    if settings.folder:
        files: AttachmentStore = FolderAttachments(settings.folder, store)
    elif isinstance(store, AttachmentStore):
        files = store
    else:
        raise ConfigError(f"uploads: the {store_type} session store keeps no attachments; set uploads.folder to a "
                          "folder to keep them in")
    return Uploads(settings, files, store, sanitizers)


def _build(key: str, cls: type[T], *args: Any) -> T:
    """``cls(*args)``: a ValueError is a mistake in the ``key`` table, anything else the plugin's bug,
    each one line naming the key (no traceback)."""
    try:
        return cls(*args)
    except ValueError as error:
        raise ConfigError(join_key(key, str(error))) from None
    except Exception as error:  # the plugin's own code
        reason = traceback.format_exception_only(error)[-1].strip()
        raise ConfigError(f"{key}: {cls.__name__} could not be built: {reason}") from None


def _ordered(found: Registry, chosen: list[str], defaults: tuple[str, ...], disabled: list[str],
             key: str) -> list[str]:
    """Installed sanitizers and middleware are on unless disabled; a broken one in use is refused."""
    known = [*found.entries, *found.invalid, *found.clashes]
    for name in [*chosen, *disabled]:
        if name not in known:
            raise ConfigError(f"{key}: unknown name {name!r}; registered: {', '.join(known)}")
    names = [*chosen, *(n for n in defaults if n in known), *sorted(known)]
    names = [n for n in dict.fromkeys(names) if n not in disabled]
    for name in names:
        problem = found.problem(name)
        if problem:
            section = key.partition(".")[0]
            raise ConfigError(f"{section}: {problem}; or turn it off with {section}.disabled = [{name!r}]")
    return names


def build_sanitizers(config: Config) -> tuple[list[str], list[Any]]:
    found = registry("register_sanitizers")
    names = _ordered(found, config.sanitizers.order, DEFAULT_SANITIZERS, config.sanitizers.disabled,
                     "sanitizers.order")
    return names, [found.entries[name][0] for name in names]


def build_middleware(config: Config) -> list[tuple[str, Any]]:
    """Each factory called with the config (and its ``[middleware.NAME]`` table), and what it
    returns tried on a stand-in app, so a broken middleware is refused here, by name."""
    found = registry("register_middleware")
    names = _ordered(found, config.middleware.order, DEFAULT_MIDDLEWARE, config.middleware.disabled,
                     "middleware.order")
    for name in config.middleware.tables:
        if name not in found.entries:
            raise ConfigError(f"middleware.{name}: no middleware {name!r} is registered; "
                              f"registered: {', '.join(found.entries)}")
    stack = []
    for name in names:
        factory, plugin_name = found.entries[name]
        middleware = _call_factory(config, name, factory, owner(plugin_name))
        if middleware is not None:
            stack.append((name, middleware))
    return stack


def _call_factory(config: Config, name: str, factory: Any, who: str) -> Any:
    options_class = options_type(factory)
    table = config.middleware.tables.get(name)
    if options_class is None and table is not None:
        raise ConfigError(f"middleware.{name}: middleware {name!r} ({who}) takes no options")
    try:
        if options_class is None:
            middleware = factory(config)
        else:
            middleware = factory(config, convert(table or {}, options_class, f"middleware.{name}"))
        if middleware is not None:
            middleware(_stand_in_app)
    except ConfigError:
        raise
    except ValueError as error:
        raise ConfigError(join_key(f"middleware.{name}", str(error))) from None
    except Exception as error:  # the plugin's bug, reported against the plugin
        raise ConfigError(f"middleware {name!r} from {who} failed to build: "
                          f"{traceback.format_exception_only(error)[-1].strip()}") from None
    return middleware


async def _stand_in_app(scope: Any, receive: Any, send: Any) -> None:
    """What a middleware is built around when it is checked; never called."""

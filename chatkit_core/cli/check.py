"""``chatkit config check``: the setup a config resolves to, checked as ``serve`` would build it."""

from __future__ import annotations

import argparse
import asyncio
import re

from chatkit_core.chat.providers import Provider
from chatkit_core.chat.shared_slots import scheme
from chatkit_core.cli.serve import load
from chatkit_core.platform.runtime import Runtime

_URL_CREDENTIALS = re.compile(r"\b([a-z][a-z0-9+.-]*://)[^/\s@]+@", re.I)


def redact_credentials(text: str) -> str:
    """``scheme://user:password@host`` becomes ``scheme://***@host``: config check output gets pasted."""
    return _URL_CREDENTIALS.sub(r"\1***@", text)


def cmd_config_check(args: argparse.Namespace) -> int:
    runtime = load(args.config)
    config = runtime.config

    def say(line: str) -> None:  # every line, URLs inside warnings included
        print(redact_credentials(line))

    asyncio.run(runtime.try_start())
    say(f"config: {config.source}" + (f" (paths start from {config.folder})" if config.folder else ""))
    say("provider chain:")
    for index, provider in enumerate(runtime.providers, 1):
        where = f" at {provider.options.base_url}" if provider.options.base_url else ""
        say(f"  {index}. {provider.name} (type {runtime.provider_types[provider.name]}, "
            f"model {provider.model or '-'}{where})")
        say(f"     {_limits(provider, config.chat.max_tokens)}")
    say(_slots(runtime))
    if args.probe:
        asyncio.run(_probe(runtime))
    say("middleware (outermost first): " + ", ".join(name for name, _ in runtime.middleware))
    say("sanitizers: " + ", ".join(runtime.sanitizer_names))
    url = getattr(runtime.store.options, "url", "")
    say(f"session store: {runtime.store_type}" + (f" at {url}" if url else "") + f" (ttl {runtime.store.ttl:.0f}s)")
    say(f"rate limiter: {runtime.limiter_type}")
    warnings = [*runtime.warnings, *_example_warnings(runtime), *_origin_warnings(runtime)]
    if runtime.limiter is None:
        per_minute = getattr(runtime.store.options, "new_per_minute", 0)
        say(f"  without one, new sessions are capped at {per_minute} a minute per client address "
            "(sessions.new_per_minute)" if per_minute else
            "  warning: new sessions are not capped at all (sessions.new_per_minute = 0)")
    if runtime.knowledge:
        options = runtime.knowledge.options
        say(f"knowledge: {runtime.knowledge.type_name} (top_k {options.top_k}, sources: "
            f"{', '.join(options.sources) or 'none'})")
        where, problems = runtime.knowledge.retriever.describe()
        if where:
            say(f"  {where}")
        warnings += [f"knowledge: {problem}" for problem in problems]
    if runtime.cache:
        cache_options = runtime.cache.cache.options
        say(f"answer cache: {runtime.cache.type_name} (ttl {cache_options.ttl_seconds:.0f}s, "
            f"max_entries {cache_options.max_entries})")
    for line in _experiments(runtime):
        say(line)
    say(_site(runtime))
    say(_console(runtime))
    say(_handoff(runtime))
    for warning in warnings:
        say(f"warning: {warning}")
    say("ok")
    return 0


def _experiments(runtime: Runtime) -> list[str]:
    lines = []
    for experiment in runtime.experiments.experiments.values():
        lines.append(f"experiment {experiment.name}: " + ("running" if experiment.enabled else
                     "ended (enabled = false): answered conversations keep their variant, new ones get the base"))
        for variant in experiment.variants:
            share = variant.weight / experiment.total if experiment.total else 0
            lines.append(f"  {variant.name}: weight {variant.weight} ({share:.0%} of new conversations); changes "
                         + (", ".join(variant.changes) or "nothing (the base config)"))
            chain = variant.chain.providers
            lines.append("     chain: " + ", ".join(f"{p.name} (model {p.model or '-'})" for p in chain))
    return lines


def _site(runtime: Runtime) -> str:
    web_root = runtime.config.server.web_root
    return (f"site folder: {web_root}, served at /" if web_root else
            "site folder: none ([server] web_root is empty): / is 404, the widget and the API are served")


def _console(runtime: Runtime) -> str:
    admin = runtime.config.admin
    if not admin.token:
        return "console: off ([admin] token is empty; set it, e.g. to ${CHATKIT_ADMIN_TOKEN}, to turn it on)"
    if runtime.listing is None:
        return f"console: off (the {runtime.store_type} store cannot list conversations)"
    return f"console: on at /admin (a sign-in lasts {admin.sign_in_ttl})"


def _handoff(runtime: Runtime) -> str:
    handoff = runtime.config.handoff
    if runtime.handoff is None:
        return "talk to a person: off ([handoff] enabled = false)"
    broker = handoff.broker.partition("://")[0] + " broker" if handoff.broker else "this process only"
    parts = [f"events: {broker}", f"webhook: {'on' if handoff.webhook else 'off'}"]
    if not runtime.config.admin.token:
        parts.append("no operator can take over without [admin] token")
    return "talk to a person: on (" + "; ".join(parts) + ")"


def _slots(runtime: Runtime) -> str:
    chain = runtime.config.chain
    if not chain.concurrency_store:
        return ("provider slots: each instance counts its own max_concurrency "
                "([chain] concurrency_store is empty)")
    return (f"provider slots: shared by every instance through {chain.concurrency_store} "
            f"(type {scheme(chain.concurrency_store)}, lease {chain.concurrency_lease:g}s)")


def _origin_warnings(runtime: Runtime) -> list[str]:
    origins = runtime.config.server.allowed_origins
    if not origins:
        return ["server.allowed_origins is empty: only pages ChatKit serves itself can use the chat; add the "
                "origin of each site that embeds the widget, like \"https://www.example.com\""]
    if "*" in origins:
        return ['server.allowed_origins = ["*"]: every site may embed the chat (for development only)']
    return []


def _limits(provider: Provider, chat_max_tokens: int) -> str:
    options = provider.options
    cap = options.max_tokens if options.max_tokens is not None else chat_max_tokens
    queue = (f"{options.max_concurrency} at once, queue {options.max_queue} for {options.queue_timeout:g}s"
             if options.max_concurrency else "no concurrency limit")
    return f"max_tokens {cap or 'none'}; {queue}"


def _example_warnings(components: Runtime) -> list[str]:
    return [f"providers.{p.name}: example provider (type {components.provider_types[p.name]}): "
            "not for a deployed site" for p in components.providers if p.example]


async def _probe(components: Runtime) -> None:
    """Ask each provider's server whether it answers (only with --probe: it goes on the network)."""
    from chatkit_core.chat.health import probe

    print("probes:")
    await asyncio.gather(*(provider.start() for provider in components.providers))
    try:
        for provider, health in zip(components.providers,
                                    await asyncio.gather(*(probe(p) for p in components.providers)), strict=True):
            print(f"  {provider.name}: {health.status}" + (f" ({health.detail})" if health.detail else ""))
    finally:
        await asyncio.gather(*(provider.close() for provider in components.providers), return_exceptions=True)



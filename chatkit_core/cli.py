"""The ``chatkit`` command: serve, plugins, config check, chat, and the commands plugins add."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import sys
from pathlib import Path

from chatkit_core.chat.providers import Provider
from chatkit_core.platform.assembly import build_runtime
from chatkit_core.platform.config import ConfigError, find_config_path, load_config
from chatkit_core.platform.plugins import PluginError, collect, describe
from chatkit_core.platform.runtime import Runtime


def _load(path: str | None) -> Runtime:
    """The runtime the config builds, checked by building the HTTP app exactly as ``serve`` does
    (nothing is started: nothing connects)."""
    runtime = build_runtime(load_config(path))
    from chatkit_core.http.app import create_app

    try:
        create_app(runtime)
    except (ConfigError, PluginError):
        raise
    except Exception as error:
        raise ConfigError(f"the server could not be built from this config: {type(error).__name__}: {error}") from None
    return runtime


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from chatkit_core.http import serving

    runtime = _load(args.config)
    config = runtime.config
    workers = args.workers or config.server.workers
    if workers > 1 and runtime.store_type == "memory":
        raise ConfigError(f"sessions.store = \"memory\" keeps conversations inside one process, so {workers} workers "
                          "would each see a different part of them; use store = \"sqlite\" or \"redis\"")
    found = find_config_path(args.config)
    if found is not None:  # worker processes read the same file
        os.environ["CHATKIT_CONFIG"] = str(found.resolve())
    host = args.host or config.server.host
    port = args.port or config.server.port
    print(f"ChatKit on http://{host}:{port}  (config: {config.source})", file=sys.stderr)
    uvicorn.run(
        "chatkit_core.http.app:app_from_environment", factory=True, host=host, port=port, workers=workers,
        log_level=config.logging.level, access_log=False, server_header=False,
        # X-Forwarded-For is read by ChatKit itself, from server.trusted_proxies only.
        proxy_headers=False, timeout_graceful_shutdown=10,
        # Slow clients: a header deadline and a connection cap (chatkit_core/serving.py).
        http=serving.PROTOCOL, timeout_keep_alive=serving.KEEP_ALIVE_TIMEOUT,
        limit_concurrency=serving.concurrency_limit(),
    )
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    rows = describe()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        kind = "built-in" if row["builtin"] else f"{row['distribution']} {row['version']}"
        registers = "; ".join(f"{k}: {', '.join(v)}" for k, v in row["registers"].items()) or "nothing"
        if "error" in row:
            registers = f"FAILED TO LOAD: {row['error']}"
        print(f"{row['name']:<34} {kind:<24} {registers}")
    from chatkit_core.platform.plugins import problems

    for problem in problems():
        print(f"problem: {problem}")
    return 0


def cmd_plugins_new(args: argparse.Namespace) -> int:
    from chatkit_core import skeleton

    target = skeleton.write(args.name, Path(args.dir))
    print(f"wrote {target}: pip install -e '{target}[test]', then run pytest in it")
    return 0


_URL_CREDENTIALS = re.compile(r"\b([a-z][a-z0-9+.-]*://)[^/\s@]+@", re.I)


def redact_credentials(text: str) -> str:
    """``scheme://user:password@host`` becomes ``scheme://***@host``: config check output gets pasted."""
    return _URL_CREDENTIALS.sub(r"\1***@", text)


def cmd_config_check(args: argparse.Namespace) -> int:
    components = _load(args.config)
    config = components.config

    def say(line: str) -> None:  # every line, URLs inside warnings included
        print(redact_credentials(line))

    say(f"config: {config.source}")
    say("provider chain:")
    for index, provider in enumerate(components.providers, 1):
        where = f" at {provider.options.base_url}" if provider.options.base_url else ""
        say(f"  {index}. {provider.name} (type {components.provider_types[provider.name]}, "
            f"model {provider.model or '-'}{where})")
        say(f"     {_limits(provider, config.chat.max_tokens)}")
    if args.probe:
        asyncio.run(_probe(components))
    say("middleware (outermost first): " + ", ".join(name for name, _ in components.middleware))
    say("sanitizers: " + ", ".join(components.sanitizer_names))
    say(f"session store: {components.store_type} (ttl {components.store.ttl:.0f}s)")
    say(f"rate limiter: {components.limiter_type}")
    if components.limiter is None:
        per_minute = getattr(components.store.options, "new_per_minute", 0)
        say(f"  without one, new sessions are capped at {per_minute} a minute per client address "
            "(sessions.new_per_minute)" if per_minute else
            "  warning: new sessions are not capped at all (sessions.new_per_minute = 0)")
    if components.knowledge:
        options = components.knowledge.options
        say(f"knowledge: {components.knowledge.type_name} (top_k {options.top_k}, sources: "
            f"{', '.join(options.sources) or 'none'})")
    if components.cache:
        cache_options = components.cache.cache.options
        say(f"answer cache: {components.cache.type_name} (ttl {cache_options.ttl_seconds:.0f}s, "
            f"max_entries {cache_options.max_entries})")
    for warning in [*components.warnings, *_example_warnings(components)]:
        say(f"warning: {warning}")
    say("ok")
    return 0


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


def cmd_chat(args: argparse.Namespace) -> int:
    return asyncio.run(_chat(args))


async def _chat(args: argparse.Namespace) -> int:
    """One message through the same conversation path as the API, in a conversation of its own
    that is erased afterwards. No HTTP app is built."""
    from chatkit_core.chat.errors import ChatError

    runtime = build_runtime(load_config(args.config))
    conversation = runtime.conversation
    async with runtime.running():
        try:
            session = await conversation.start({})
            try:
                request = await conversation.ask(session.id, args.message)
                async with contextlib.aclosing(conversation.answer_events(session.id, request)) as events:
                    async for event in events:
                        if _show(event):
                            return 1
            finally:
                with contextlib.suppress(Exception):
                    await runtime.store.delete(session.id)
        except ChatError as error:
            print(f"error: {error.message}", file=sys.stderr)
            return 1
    return 0


def _show(event: object) -> bool:
    """Print one event of a streamed answer; True when the answer failed."""
    from chatkit_core.chat import turn

    if isinstance(event, turn.Opened):
        tried = f" after {', '.join(event.fallbacks)}" if event.fallbacks else ""
        print(f"[{event.provider} / {event.model}{tried}]", file=sys.stderr)
    elif isinstance(event, turn.Delta):
        print(event.text, end="", flush=True)
    elif isinstance(event, turn.Done):
        print()
        for source in event.message.sources:
            print(f"source: {source.title} {source.url}".rstrip(), file=sys.stderr)
    elif isinstance(event, turn.Failed) and event.fallbacks:
        print(f"error: no provider answered ({', '.join(event.fallbacks)})", file=sys.stderr)
        return True
    elif isinstance(event, turn.Failed):
        print(f"\nerror: {event.error.message} ({event.error.code})", file=sys.stderr)
        return True
    return False


def parser() -> argparse.ArgumentParser:
    from chatkit_core import __version__

    top = argparse.ArgumentParser(prog="chatkit", description="Self-hostable AI chat for websites.")
    top.add_argument("--version", action="version", version=f"chatkit {__version__}")
    commands = top.add_subparsers(dest="command", required=True)
    config_help = "config file (default: $CHATKIT_CONFIG, then ./chatkit.toml, then built-in defaults)"

    serve = commands.add_parser("serve", help="run the server (API, widget and web/)")
    serve.add_argument("--config", help=config_help)
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int)
    serve.set_defaults(run=cmd_serve)

    plugins = commands.add_parser("plugins", help="list installed plugins, or write a new one")
    plugins.add_argument("--json", action="store_true")
    plugins.set_defaults(run=cmd_plugins)
    plugin_commands = plugins.add_subparsers(dest="plugins_command")
    new = plugin_commands.add_parser("new", help="write a ready-to-install provider plugin with its tests")
    new.add_argument("name", help="the provider type, e.g. mymodel (writes ./chatkit-mymodel)")
    new.add_argument("--dir", default=".", help="folder to write it in (default: the current one)")
    new.set_defaults(run=cmd_plugins_new)

    config = commands.add_parser("config", help="configuration commands")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    check = config_commands.add_parser("check", help="validate and print the resolved setup")
    check.add_argument("--config", help=config_help)
    check.add_argument("--probe", action="store_true",
                       help="also ask each provider's server whether it answers (goes on the network)")
    check.set_defaults(run=cmd_config_check)

    chat = commands.add_parser("chat", help="send one message through the chain")
    chat.add_argument("--config", help=config_help)
    chat.add_argument("message")
    chat.set_defaults(run=cmd_chat)

    _add_plugin_commands(commands, config_help)
    return top


def _add_plugin_commands(commands: argparse._SubParsersAction, config_help: str) -> None:
    """Commands plugins register; one that cannot be set up is left out, the others stay
    (``chatkit plugins`` reports why), so ``--help`` works whatever is installed."""
    try:
        registered = collect("register_commands")
    except PluginError:  # reported by the command that runs
        return
    for name, (command, _) in registered.items():
        if name in commands.choices:
            continue
        sub = argparse.ArgumentParser(prog=f"chatkit {name}", description=command.help)
        sub.add_argument("--config", help=config_help)
        try:
            command.add_arguments(sub)
        except Exception:  # checked at registration already; a plugin's bug must not break the CLI
            continue
        sub = commands.add_parser(name, help=command.help, description=command.help, parents=[sub],
                                  add_help=False)
        sub.set_defaults(run=command.run)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from chatkit_core.platform.logs import configure_logging

    configure_logging(os.environ.get("LOG_LEVEL", "warning").lower() if args.command != "serve" else "info",
                      "console" if args.command == "chat" else "json")
    try:
        return args.run(args)
    except (ConfigError, PluginError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""The ``chatkit`` command: serve, plugins, config check, chat, and the commands plugins add."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys

from chatkit_core.assembly import Components, assemble
from chatkit_core.config import Config, ConfigError, find_config_path, load_config
from chatkit_core.plugins import PluginError, collect, describe


def _load(path: str | None) -> tuple[Config, Components]:
    config = load_config(path)
    return config, assemble(config)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from chatkit_core import serving

    config, components = _load(args.config)
    workers = args.workers or config.server.workers
    if workers > 1 and components.store_type == "memory":
        raise ConfigError(f"sessions.store = \"memory\" keeps conversations inside one process, so {workers} workers "
                          "would each see a different part of them; use store = \"sqlite\" or \"redis\"")
    found = find_config_path(args.config)
    if found is not None:  # worker processes read the same file
        os.environ["CHATKIT_CONFIG"] = str(found.resolve())
    host = args.host or config.server.host
    port = args.port or config.server.port
    print(f"ChatKit on http://{host}:{port}  (config: {config.source})", file=sys.stderr)
    uvicorn.run(
        "chatkit_core.app:app_from_environment", factory=True, host=host, port=port, workers=workers,
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
        print(f"{row['name']:<34} {kind:<24} {registers}")
    return 0


_URL_CREDENTIALS = re.compile(r"\b([a-z][a-z0-9+.-]*://)[^/\s@]+@", re.I)


def redact_credentials(text: str) -> str:
    """``scheme://user:password@host`` becomes ``scheme://***@host``: config check output gets pasted."""
    return _URL_CREDENTIALS.sub(r"\1***@", text)


def cmd_config_check(args: argparse.Namespace) -> int:
    config, components = _load(args.config)

    def say(line: str) -> None:  # every line, URLs inside warnings included
        print(redact_credentials(line))

    say(f"config: {config.source}")
    say("provider chain:")
    for index, provider in enumerate(components.providers, 1):
        where = f" at {provider.options.base_url}" if provider.options.base_url else ""
        say(f"  {index}. {provider.name} (type {components.provider_types[provider.name]}, "
            f"model {provider.model or '-'}{where})")
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
    for warning in components.warnings:
        say(f"warning: {warning}")
    say("ok")
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    return asyncio.run(_chat(args))


async def _chat(args: argparse.Namespace) -> int:
    from chatkit_core.chain import Chain, ChainFailed, Started, StreamBroken
    from chatkit_core.metrics import Metrics
    from chatkit_core.providers import ChatMessage, ChatRequest

    config, components = _load(args.config)
    messages = [ChatMessage("user", args.message)]
    if config.chat.system_prompt:
        messages.insert(0, ChatMessage("system", config.chat.system_prompt))
    chain = Chain(components.providers, config.chain, Metrics())
    await components.start()
    try:
        async for event in chain.stream(ChatRequest(messages=messages)):
            if isinstance(event, Started):
                tried = f" after {', '.join(event.fallbacks)}" if event.fallbacks else ""
                print(f"[{event.provider} / {event.model}{tried}]", file=sys.stderr)
            elif isinstance(event, str):
                print(event, end="", flush=True)
        print()
    except ChainFailed as error:
        print(f"error: no provider answered ({', '.join(error.fallbacks)})", file=sys.stderr)
        return 1
    except StreamBroken as error:
        print(f"\nerror: {error.started.provider} stopped mid-answer ({error.error.kind})", file=sys.stderr)
        return 1
    finally:
        await components.close()
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="chatkit", description="Self-hostable AI chat for websites.")
    commands = top.add_subparsers(dest="command", required=True)
    config_help = "config file (default: $CHATKIT_CONFIG, then ./chatkit.toml, then built-in defaults)"

    serve = commands.add_parser("serve", help="run the server (API, widget and web/)")
    serve.add_argument("--config", help=config_help)
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int)
    serve.set_defaults(run=cmd_serve)

    plugins = commands.add_parser("plugins", help="list installed plugins")
    plugins.add_argument("--json", action="store_true")
    plugins.set_defaults(run=cmd_plugins)

    config = commands.add_parser("config", help="configuration commands")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    check = config_commands.add_parser("check", help="validate and print the resolved setup")
    check.add_argument("--config", help=config_help)
    check.set_defaults(run=cmd_config_check)

    chat = commands.add_parser("chat", help="send one message through the chain")
    chat.add_argument("--config", help=config_help)
    chat.add_argument("message")
    chat.set_defaults(run=cmd_chat)

    for name, (command, _) in collect("register_commands").items():
        sub = commands.add_parser(name, help=command.help, description=command.help)
        sub.add_argument("--config", help=config_help)
        command.add_arguments(sub)
        sub.set_defaults(run=command.run)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from chatkit_core.logs import configure_logging

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

"""The ``chatkit`` command: serve, plugins, config check, chat, and the commands plugins add.

Each command's module loads only when it runs, so ``chatkit --version`` and ``--help`` stay quick.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Any

PLUGIN_KINDS = ("provider", "retriever", "store", "sanitizer", "middleware")
"""What ``chatkit plugins new --kind`` writes (``chatkit_core.skeleton`` has a template for each)."""


def _run(module: str, function: str) -> Any:
    """The command ``function`` of ``chatkit_core.cli.module``, imported when it runs."""

    def run(args: argparse.Namespace) -> int:
        command: Any = getattr(importlib.import_module(f"chatkit_core.cli.{module}"), function)
        return int(command(args))

    return run


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
    serve.set_defaults(run=_run("serve", "cmd_serve"))

    plugins = commands.add_parser("plugins", help="list installed plugins, or write a new one")
    plugins.add_argument("--json", action="store_true")
    plugins.set_defaults(run=_run("plugins", "cmd_plugins"))
    plugin_commands = plugins.add_subparsers(dest="plugins_command")
    new = plugin_commands.add_parser("new", help="write a ready-to-install plugin with its tests")
    new.add_argument("name", help="what the config calls it, e.g. mymodel (writes ./chatkit-mymodel)")
    new.add_argument("--kind", default="provider", choices=PLUGIN_KINDS,
                     help="what it adds to ChatKit (default: provider)")
    new.add_argument("--dir", default=".", help="folder to write it in (default: the current one)")
    new.set_defaults(run=_run("plugins", "cmd_plugins_new"))

    config = commands.add_parser("config", help="configuration commands")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    check = config_commands.add_parser("check", help="validate and print the resolved setup")
    check.add_argument("--config", help=config_help)
    check.add_argument("--probe", action="store_true",
                       help="also ask each provider's server whether it answers (goes on the network)")
    check.set_defaults(run=_run("check", "cmd_config_check"))

    chat = commands.add_parser("chat", help="send one message through the chain")
    chat.add_argument("--config", help=config_help)
    chat.add_argument("message")
    chat.set_defaults(run=_run("chat", "cmd_chat"))

    _add_plugin_commands(commands, config_help)
    return top


def _add_plugin_commands(commands: argparse._SubParsersAction, config_help: str) -> None:
    """Commands plugins register; one that cannot be set up is left out, the others stay
    (``chatkit plugins`` reports why), so ``--help`` works whatever is installed."""
    from chatkit_core.platform.plugins import PluginError, collect

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
    from chatkit_core.platform.config import ConfigError
    from chatkit_core.platform.logs import configure_logging
    from chatkit_core.platform.plugins import PluginError

    configure_logging(os.environ.get("LOG_LEVEL", "warning").lower() if args.command != "serve" else "info",
                      "console" if args.command == "chat" else "json")
    try:
        return args.run(args)
    except (ConfigError, PluginError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `chatkit index | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 141


if __name__ == "__main__":
    sys.exit(main())

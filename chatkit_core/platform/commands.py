"""What a plugin's ``chatkit`` subcommand implements (hook ``register_commands``)."""

from __future__ import annotations

import argparse
from typing import ClassVar


class Command:
    """One ``chatkit NAME`` subcommand.

    ``run`` raises :class:`chatkit_core.platform.config.ConfigError` for problems the operator must
    fix; the CLI prints it as ``error: …`` and exits 1, like its own commands.
    """

    name: ClassVar[str] = ""
    help: ClassVar[str] = ""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Declare the command's options (``--config`` is added for every command)."""

    def run(self, args: argparse.Namespace) -> int:
        raise NotImplementedError

"""Environment variables that plugins declare for their own tables.

A plugin's ``Options`` Struct declares the variables it reads, as ``llm``'s models declare
``key_env_var``; the core applies them to the table before it is decoded and names no
plugin itself::

    class OllamaOptions(ProviderOptions, kw_only=True):
        env: ClassVar[dict[str, str | EnvSetter]] = {"OLLAMA_BASE_URL": "base_url", "OLLAMA_MODEL": "model"}
        default_chain: ClassVar[bool | str] = True

Each variable that is set and not empty either sets the key it names (the variable wins
over the file; the text is converted to the key's type) or, for a setter, calls
``setter(table, value)`` to change the table itself (setters raise ``ValueError`` for a bad
value). Provider variables apply to the one table of that type; with several, the file
must say which gets what.

``default_chain`` places a provider type in the chain used when there is no config file:
``True`` always (these come first), the name of a variable when that variable is set (after
them); each under its type name, ties by type name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import msgspec

EnvSetter = Callable[[dict[str, Any], str], None]


class EnvError(ValueError):
    """An environment variable with a value its key cannot take; the message names it."""


def fallback(key: str) -> EnvSetter:
    """A setter that fills ``key`` only when the table leaves it empty (the file wins)."""

    def fill(table: dict[str, Any], value: str) -> None:
        if not table.get(key):
            table[key] = value

    return fill


def apply(table: dict[str, Any], options: type, environ: Mapping[str, str]) -> None:
    """Apply the variables ``options`` declares to ``table``, in place."""
    fields = {field.name: field.type for field in msgspec.structs.fields(options)}
    for var, target in getattr(options, "env", {}).items():
        value = environ.get(var)
        if not value:
            continue
        try:
            if callable(target):
                target(table, value)
            else:
                table[target] = msgspec.convert(value, fields[target], strict=False)
        except (ValueError, msgspec.ValidationError) as error:
            raise EnvError(f"environment variable {var}: {error}") from None


def default_providers(types: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """The ``[providers]`` tables of the default chain, from what provider types declare."""
    always, enabled = [], []
    for type_name, provider_class in sorted(types.items()):
        joins = getattr(provider_class.Options, "default_chain", False)
        if joins is True:
            always.append(type_name)
        elif isinstance(joins, str) and joins and environ.get(joins):
            enabled.append(type_name)
    return {type_name: {"type": type_name} for type_name in [*always, *enabled]}

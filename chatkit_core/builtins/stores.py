"""The built-in session stores, registered like any plugin's: ``memory`` and ``sqlite``."""

from __future__ import annotations

from chatkit_core import hookimpl
from chatkit_core.builtins.memory_store import MemoryStore
from chatkit_core.builtins.sqlite_store import SQLiteStore


@hookimpl
def register_session_stores(register):
    register("memory", MemoryStore)
    register("sqlite", SQLiteStore)

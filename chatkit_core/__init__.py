"""ChatKit: a self-hostable AI chat backend for websites."""

from chatkit_core.hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["__version__", "hookimpl"]

"""ChatKit: a self-hostable AI chat backend for websites."""

from pathlib import Path

from chatkit_core.hookspecs import hookimpl

# The one place the version is written: this package, every bundled plugin (each links this file
# as its own VERSION), `chatkit --version`, /health, the console and the widget read it from here.
__version__ = (Path(__file__).with_name("VERSION")).read_text(encoding="ascii").strip()
__all__ = ["__version__", "hookimpl"]

"""The core's build: everything is in pyproject.toml, plus one step. Before the package's files
are collected, the widget bundle is built (widget/build.py: esbuild, when the bundle is older
than its sources), so every wheel ships ``chatkit_core/widget/chatkit.js``."""

import importlib.util
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

WIDGET = Path(__file__).resolve().parent / "widget"
# The package's folder must exist from the first metadata step on; the bundle comes in build_py.
(WIDGET / "dist").mkdir(exist_ok=True)


def build_widget() -> None:
    spec = importlib.util.spec_from_file_location("widget_build", WIDGET / "build.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        module.build()
    except module.BuildError as error:
        raise SystemExit(f"error: {error}") from None


class BuildWithWidget(build_py):
    def run(self) -> None:
        # An editable install serves widget/dist/ from the source tree, which make install builds.
        if not self.editable_mode:
            build_widget()
        super().run()


setup(cmdclass={"build_py": BuildWithWidget})

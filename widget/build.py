"""Build the widget bundle when it is missing or older than what it is made of.

``python widget/build.py`` runs ``npm ci`` (when ``node_modules`` is missing or older than the
lock file) and ``npm run build`` (esbuild, see ``build.mjs``), which writes ``dist/chatkit.js``.
``make install``, the core's wheel build (``setup.py``) and the browser tests call it; with a
fresh bundle it does nothing, so a wheel builds without Node.js from a bundle made elsewhere
(deploy/backend.Dockerfile builds it in a Node stage). Standard library only.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUNDLE = HERE / "dist" / "chatkit.js"
LOCK = HERE / "package-lock.json"
INSTALLED = HERE / "node_modules" / ".package-lock.json"  # npm writes it on every install


class BuildError(Exception):
    """The bundle is stale and cannot be built here; the message says what to install."""


def inputs() -> list[Path]:
    """Every file the bundle is made of: a newer one makes it stale."""
    return [*sorted((HERE / "src").rglob("*.js")), HERE / "build.mjs", HERE / "package.json", LOCK,
            HERE.parent / "chatkit_core" / "VERSION"]


def fresh() -> bool:
    if not BUNDLE.is_file():
        return False
    built = BUNDLE.stat().st_mtime
    return all(path.stat().st_mtime <= built for path in inputs() if path.exists())


def npm() -> str:
    found = shutil.which("npm")
    if found is None or shutil.which("node") is None:
        raise BuildError(f"{BUNDLE.relative_to(HERE.parent)} is missing or older than widget/src/, and building it "
                         "needs Node.js 18 or later with npm (Debian: apt-get install nodejs npm). Or build it "
                         "where they are (make install) and copy widget/dist/ here.")
    return found


def run(*command: str) -> None:
    done = subprocess.run(command, cwd=HERE, capture_output=True, text=True)
    if done.returncode:
        raise BuildError(f"{' '.join(command)} failed in widget/:\n{(done.stdout + done.stderr).strip()}")


def build() -> Path:
    """Bundle the widget if it is stale; returns the bundle's path."""
    if fresh():
        return BUNDLE
    tool = npm()
    BUNDLE.parent.mkdir(exist_ok=True)
    # One build at a time (parallel test workers may all find the bundle stale).
    with open(BUNDLE.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not fresh():
            if not INSTALLED.exists() or INSTALLED.stat().st_mtime < LOCK.stat().st_mtime:
                run(tool, "ci", "--no-audit", "--no-fund", "--loglevel=error")
            run(tool, "run", "--silent", "build")
    return BUNDLE


if __name__ == "__main__":
    try:
        print(build().relative_to(HERE.parent))
    except BuildError as error:
        sys.exit(f"error: {error}")

"""Fixtures shared by every test package."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

# A real PostgreSQL for any test that asks (tests/support/postgres.py).
from tests.support.postgres import own_postgres, postgres_server, postgres_template, postgres_url

__all__ = ["own_postgres", "postgres_server", "postgres_template", "postgres_url"]

ROOT = Path(__file__).resolve().parent.parent


class Venv:
    """A fresh virtualenv, as a new user would make one: pip installs from the source tree."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.bin = path / "bin"

    def pip(self, *args: str) -> None:
        subprocess.run([str(self.bin / "python"), "-m", "pip", "--quiet", "--disable-pip-version-check", *args],
                       check=True, capture_output=True, text=True)

    def run(self, *args: str, check: bool = False, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.bin / args[0]), *args[1:]], capture_output=True, text=True, check=check,
                              timeout=120, **kwargs)


@pytest.fixture(scope="session")
def fresh_venv(tmp_path_factory) -> Venv:
    """A new virtualenv holding the core alone (no plugins). Tests install plugins into it.

    pip needs the package index to build, so without it these tests are skipped.
    """
    try:
        socket.create_connection(("pypi.org", 443), timeout=3).close()
    except OSError:
        pytest.skip("needs the package index (pypi.org) to build a fresh virtualenv")
    path = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    venv = Venv(path)
    venv.pip("install", str(ROOT))
    return venv


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium, one per test module, driven by Playwright's sync API."""
    from playwright.sync_api import sync_playwright

    from tests.support.browser import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


# Markers from what a test uses, so `make check` (-m "not browser and not redis and not postgres and
# not nginx and not slow") leaves out every test that starts an outside program, however it gets one.
_MARKED_BY_FIXTURE = {"browser": "browser", "page": "browser", "fresh_venv": "slow", "llama_url": "slow",
                      "redis_server": "redis",
                      "redis_url": "redis",
                      "postgres_template": "postgres", "postgres_server": "postgres", "postgres_url": "postgres",
                      "own_postgres": "postgres"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for fixture, marker in _MARKED_BY_FIXTURE.items():
            if fixture in used:
                item.add_marker(marker)
        params = getattr(getattr(item, "callspec", None), "params", {})
        for backend in ("redis", "postgres"):
            if backend in params.values():
                item.add_marker(backend)


@pytest.fixture(autouse=True)
def _keep_test_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``chatkit_core.cli.main`` called in-process configures structlog to cache its loggers on
    first use, after which no later test could capture their events: here it configures them
    uncached, and the defaults come back after the test."""
    from chatkit_core.platform import logs

    configure = logs.configure_logging

    def uncached(*args: Any, **kwargs: Any) -> None:
        configure(*args, **kwargs)
        structlog.configure(cache_logger_on_first_use=False)

    monkeypatch.setattr(logs, "configure_logging", uncached)
    yield
    structlog.reset_defaults()

"""The pytest plugin (entry point ``pytest11``): ChatKit fixtures for any project's tests.

- ``chatkit_app``: ``async with chatkit_app(toml, plugins=[MyPlugin()]) as client`` — a started
  in-process app and an ``AsyncTestClient`` (see :func:`chatkit_core.http.testing.app_client`);
- ``chatkit_plugins``: ``chatkit_plugins(MyPlugin())`` registers plugins until the test ends;
- ``fake_upstream``: a started :class:`chatkit_core.testing.FakeUpstream`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from chatkit_core.http.testing import app_client
from chatkit_core.testing.app import registered
from chatkit_core.testing.upstream import FakeUpstream


@pytest.fixture
def chatkit_app() -> Callable[..., Any]:
    return app_client


@pytest.fixture
def chatkit_plugins() -> Iterator[Callable[..., None]]:
    with contextlib.ExitStack() as stack:
        yield lambda *plugins: stack.enter_context(registered(plugins))


@pytest.fixture
def fake_upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream() as upstream:
        yield upstream

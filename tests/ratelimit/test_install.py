"""``pip install ./plugins/chatkit_ratelimit`` alone, into a fresh virtualenv with the core only.

pip fetches ``limits`` and ``redis`` from the package index, so the test is skipped when it
is unreachable.
"""

from __future__ import annotations

import json

from tests.conftest import ROOT


def limiter_types(venv) -> set[str]:
    rows = json.loads(venv.run("chatkit", "plugins", "--json", check=True).stdout)
    return {name for row in rows for name in row["registers"].get("rate_limiters", [])}


# Built the way the server builds it, then asked about three requests.
SCRIPT = """
import asyncio
from chatkit_core.platform.assembly import build_limiter
from chatkit_core.platform.config import decode

limiter, _ = build_limiter(decode({"rate_limit": {"type": "limits", "per_ip": ["2/minute"]}}))
print([asyncio.run(limiter.hit("chat", "192.0.2.1")).allowed for _ in range(3)])
"""


def test_ratelimit_plugin_installs_alone_and_uninstalls(fresh_venv) -> None:
    fresh_venv.pip("install", str(ROOT / "plugins" / "chatkit_ratelimit"))
    try:
        assert "limits" in limiter_types(fresh_venv)
        assert fresh_venv.run("python", "-c", SCRIPT, check=True).stdout.strip() == "[True, True, False]"
    finally:
        fresh_venv.pip("uninstall", "--yes", "chatkit-ratelimit")
    assert "limits" not in limiter_types(fresh_venv)

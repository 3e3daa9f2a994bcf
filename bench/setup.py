"""ChatKit configurations under test, written as chatkit.toml text."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field

HUGE = "100000000/minute"
"""Limits no benchmark reaches: the limiter does all its work and refuses nothing."""


def has_limiter() -> bool:
    return importlib.util.find_spec("chatkit_ratelimit") is not None


def has_openai() -> bool:
    return importlib.util.find_spec("chatkit_openai") is not None


@dataclass
class Setup:
    providers: list[tuple[str, str, int]]
    """``(name, type, port)`` in chain order; type ``ollama`` or ``openai``."""
    limiter: str | None = "memory://"
    """Rate-limit storage URL; None runs without a limiter."""
    store: str = "memory"
    store_url: str = ""
    chain: dict[str, float | int] = field(default_factory=dict)
    strategy: str = "moving-window"
    log_level: str = "info"

    def toml(self) -> str:
        lines = ['[server]', 'host = "127.0.0.1"', 'allowed_origins = ["http://127.0.0.1:8080"]',
                 '[logging]', f'level = "{self.log_level}"', '[chain]',
                 f'order = [{", ".join(repr(name) for name, _, _ in self.providers)}]']
        lines += [f"{key} = {value}" for key, value in self.chain.items()]
        for name, kind, port in self.providers:
            base = f"http://127.0.0.1:{port}" + ("/v1" if kind == "openai" else "")
            lines += [f"[providers.{name}]", f'type = "{kind}"', f'base_url = "{base}"', 'model = "bench"']
            if kind == "openai":
                lines.append('api_key = "sk-bench"')
        if self.limiter and has_limiter():
            lines += ["[rate_limit]", 'type = "limits"', f'storage = "{self.limiter}"', f'strategy = "{self.strategy}"',
                      f'per_ip = ["{HUGE}"]', f'per_session = ["{HUGE}"]']
        else:
            lines += ["[rate_limit]", 'type = "none"']
        lines += ["[sessions]", f'store = "{self.store}"', 'ttl = "24h"', "new_per_minute = 0"]
        if self.store_url:
            lines.append(f'url = "{self.store_url}"')
        return "\n".join(lines) + "\n"

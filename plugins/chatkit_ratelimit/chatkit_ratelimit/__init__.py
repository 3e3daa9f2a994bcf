"""ChatKit rate limiter type ``limits``, built on the ``limits`` library's async API.

    [rate_limit]
    type = "limits"
    storage = "redis://127.0.0.1:6379/0"     # or "memory://" (one process), "valkey://..."
    strategy = "moving-window"               # or "sliding-window", "fixed-window"
    per_ip = ["60/minute", "1000/hour"]      # create-session and chat, keyed by client IP
    per_session = ["20/minute", "300/hour"]  # chat, keyed by conversation
    routes = { chat = 1, "create-session" = 1 }   # limited routes and their cost
    on_storage_error = "open"                # or "closed": answer 503 while storage is down
"""

from __future__ import annotations

from chatkit_core import hookimpl
from chatkit_ratelimit.limiter import LimitsLimiter
from chatkit_ratelimit.options import LimitsOptions

__all__ = ["LimitsLimiter", "LimitsOptions"]


@hookimpl
def register_rate_limiters(register):
    register("limits", LimitsLimiter)

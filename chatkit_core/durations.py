"""Durations written as ``"24h"``, ``"30m"``, ``"90s"``, ``"7d"`` or plain seconds."""

from __future__ import annotations

import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


def parse_duration(value: str | float | int) -> float:
    """Seconds in ``value``; ``ValueError`` naming the accepted forms otherwise."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _PATTERN.match(str(value))
        if not match:
            raise ValueError(f"{value!r} is not a duration; use e.g. \"90s\", \"30m\", \"24h\", \"7d\"")
        seconds = float(match[1]) * _UNITS[match[2] or "s"]
    if seconds <= 0:
        raise ValueError(f"duration must be greater than 0, got {value!r}")
    return seconds

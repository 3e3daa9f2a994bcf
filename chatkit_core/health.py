"""Health status shared by providers, stores and limiters."""

from __future__ import annotations

from typing import Literal

import msgspec

Status = Literal["up", "down", "cooldown", "unknown"]


class Health(msgspec.Struct, frozen=True):
    status: Status
    detail: str = ""

"""A circuit breaker per provider: stop calling an upstream that keeps failing."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

State = Literal["closed", "open", "half_open"]


class Breaker:
    """Opens after ``failures`` consecutive failures (or one that trips it), lets one probe
    through after ``cooldown`` seconds, and closes again when a call succeeds."""

    def __init__(self, failures: int, cooldown: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = failures
        self.cooldown = cooldown
        self.clock = clock
        self.state: State = "closed"
        self.consecutive = 0
        self.opened_at = 0.0
        self.probing = False

    def allow(self) -> bool:
        if self.state == "closed":
            return True
        if self.state == "open" and self.clock() - self.opened_at >= self.cooldown:
            self.state = "half_open"
            self.probing = False
        if self.state == "half_open" and not self.probing:
            self.probing = True
            return True
        return False

    def succeeded(self) -> None:
        self.state, self.consecutive, self.probing = "closed", 0, False

    def failed(self, trip: bool = False) -> None:
        self.consecutive += 1
        if trip or self.state == "half_open" or self.consecutive >= self.threshold:
            self.state, self.opened_at, self.probing = "open", self.clock(), False

    def released(self) -> None:
        """A probe ended without a verdict (the visitor left): let the next one through."""
        self.probing = False

    @property
    def is_open(self) -> bool:
        return self.state != "closed"

"""A circuit breaker per provider: stop calling an upstream that keeps failing."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

State = Literal["closed", "open", "half_open"]


class Breaker:
    """Opens after ``failures`` consecutive failures (or one that trips it), lets one probe
    through after ``cooldown`` seconds, and closes again when a call succeeds.

    Failures of calls that were already under way when the last failure was counted (or the
    state last changed) are not counted again: ten requests timing out together on one
    overloaded server are one event, not ten.
    """

    def __init__(self, failures: int, cooldown: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = failures
        self.cooldown = cooldown
        self.clock = clock
        self.state: State = "closed"
        self.consecutive = 0
        self.opened_at = 0.0
        self.probing = False
        self.changed_at = float("-inf")
        """When the last counted failure or state change happened."""

    def allow(self) -> bool:
        if self.state == "closed":
            return True
        if self.state == "open" and self.clock() - self.opened_at >= self.cooldown:
            self.state, self.changed_at = "half_open", self.clock()
            self.probing = False
        if self.state == "half_open" and not self.probing:
            self.probing = True
            return True
        return False

    def succeeded(self) -> None:
        if self.state != "closed":
            self.changed_at = self.clock()
        self.state, self.consecutive, self.probing = "closed", 0, False

    def failed(self, trip: bool = False, started: float | None = None) -> bool:
        """Count a failure of a call begun at ``started``; False when it overlapped a counted one."""
        if started is not None and started < self.changed_at and not (trip and self.state == "closed"):
            return False
        self.consecutive += 1
        self.changed_at = self.clock()
        if trip or self.state == "half_open" or self.consecutive >= self.threshold:
            self.state, self.opened_at, self.probing = "open", self.clock(), False
        return True

    def released(self) -> None:
        """A probe ended without a verdict (the visitor left): let the next one through."""
        self.probing = False

    @property
    def is_open(self) -> bool:
        return self.state != "closed"

"""Slots shared by several instances: what a concurrency store implements.

With ``[chain] concurrency_store = "redis://…"`` every instance takes a provider's
``max_concurrency`` slots from one place, so N instances together never send more than that
many requests at once to one upstream, and the visitors past it wait in one line, first come
first served, whichever instance they reached. A store type (hook
``register_concurrency_stores``) is picked by the URL's scheme and gives the chain one
:class:`~chatkit_core.chat.slots.Gate` per limited provider.

A store must let go of what an instance that stopped renewing holds (a crashed instance,
a frozen one) within about ``lease`` seconds, and must keep chats going when its backing
service is down: each instance then counts its own slots (:class:`~chatkit_core.chat.slots.Slots`),
as it does without a store.
"""

from __future__ import annotations

from chatkit_core.chat.slots import Gate


class SlotStore:
    """Base class for concurrency store types, built as ``cls(url, lease)`` for ``[chain]
    concurrency_store`` and ``concurrency_lease``; a ValueError names what to change."""

    def __init__(self, url: str, lease: float) -> None:
        self.url = url
        self.lease = lease

    def gate(self, provider: str, limit: int, max_queue: int) -> Gate:
        """The shared slots of provider ``provider``: at most ``limit`` held across every
        instance, at most ``max_queue`` waiting. Instances share them by the provider's name."""
        raise NotImplementedError

    async def start(self) -> None:
        """Open connections. Runs once at app start-up."""

    async def close(self) -> None:
        """Let go of every slot and place held here and close connections; runs at shutdown."""


def scheme(url: str) -> str:
    """The store type a ``concurrency_store`` URL names: its scheme, lower case; "" if it is no URL."""
    name, separator, _ = url.partition("://")
    return name.lower() if separator else ""

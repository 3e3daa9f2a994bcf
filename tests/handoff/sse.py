"""Reading a Server-Sent Events stream in a thread, as a browser's EventSource would, noting when
each event arrived."""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass

import httpx


@dataclass
class Received:
    id: str
    event: str
    data: str
    at: float


class Listener:
    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        self.url = url
        self.headers = headers or {}
        self.events: list[Received] = []
        self.status = 0
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self._client = httpx.Client(timeout=httpx.Timeout(5.0, read=30.0))
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        fields: dict[str, str] = {}
        stream = self._client.stream("GET", self.url, headers=self.headers)
        with contextlib.suppress(httpx.HTTPError), stream as response:
            with self._changed:
                self.status = response.status_code
                self._changed.notify_all()
            for line in response.iter_lines():
                if self._stop.is_set():  # the server sends a keep-alive at least every heartbeat
                    return
                if line == "":
                    if "event" in fields:
                        with self._changed:
                            self.events.append(Received(fields.get("id", ""), fields["event"], fields.get("data", ""),
                                                        time.monotonic()))
                            self._changed.notify_all()
                    fields = {}
                elif not line.startswith(":") and ":" in line:
                    name, _, value = line.partition(":")
                    fields[name] = value.removeprefix(" ")

    def wait_for(self, predicate, timeout: float = 10.0) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self.events), timeout)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._client.close()

    @property
    def last_id(self) -> str:
        return next((e.id for e in reversed(self.events) if e.id), "0")

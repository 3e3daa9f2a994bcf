"""Pulling a model through ``/api/pull``, with progress in the logs."""

from __future__ import annotations

from typing import Any

import aiohttp
import msgspec
import structlog
from yarl import URL

from chatkit_core.chat.providers import ProviderError
from chatkit_ollama.errors import status_error, transport_error
from chatkit_ollama.ndjson import lines

log = structlog.get_logger("chatkit.ollama")


class _Progress(msgspec.Struct):
    status: str = ""
    error: str | None = None
    total: int = 0
    completed: int = 0


async def pull_model(
    session: aiohttp.ClientSession, url: URL, model: str, base_url: str, sending: dict[str, Any]
) -> None:
    """Pull ``model``, logging each new status and every tenth of a layer's download.

    ``sending`` holds the provider's arguments for every request (redirects, proxy).
    """
    log.info("ollama_pull_started", model=model)
    last: tuple[str, int] = ("", -1)
    try:
        # A download can take minutes; only the gaps between progress lines are bounded.
        async with session.post(url, json={"model": model, "stream": True}, **sending) as response:
            if response.status >= 400:
                raise status_error(response, await response.read(), model)
            async for raw in lines(response.content):
                try:
                    progress = msgspec.json.decode(raw, type=_Progress)
                except msgspec.DecodeError:
                    raise ProviderError(
                        "Ollama sent a pull progress line that is not JSON", kind="bad_response"
                    ) from None
                if progress.error is not None:
                    raise ProviderError(f"pulling {model} failed: {progress.error}", kind="bad_response")
                tenth = progress.completed * 10 // progress.total if progress.total else -1
                if (progress.status, tenth) != last:
                    last = (progress.status, tenth)
                    log.info(
                        "ollama_pull_progress",
                        model=model,
                        status=progress.status,
                        percent=tenth * 10 if tenth >= 0 else None,
                    )
    except aiohttp.ClientError as error:
        raise transport_error(error, base_url, answered=True) from error
    if last[0] != "success":
        raise ProviderError(f"pulling {model} ended before Ollama reported success", kind="bad_response")
    log.info("ollama_pull_finished", model=model)

"""Attachments as files in a folder (``[uploads] folder``), for a session store that keeps none of
its own, or to keep them off the store.

Each conversation has a folder named by a hash of its session id (the id, the visitor's
secret, is in no path), readable by this user only, holding one file per attachment and the
session id in ``.session``. Erasing a conversation through the API removes its folder at once; a
sweep every minute removes those whose conversation is gone otherwise (expired, erased in the
console or by the retention sweep). Several processes may share the folder: adding takes an
exclusive lock on the conversation's folder, so the per-conversation cap holds across them.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import hashlib
import os
import re
import shutil
import time
from pathlib import Path

import anyio
import structlog

from chatkit_core.chat.attachments import AttachmentStore, StoredAttachment, decode_attachment, encode_attachment
from chatkit_core.chat.sessions import SessionStore, StoreUnavailable

log = structlog.get_logger("chatkit.uploads")

ATTACHMENT_ID = re.compile(r"^att_[A-Za-z0-9_-]{16}$")
"""What :func:`~chatkit_core.chat.attachments.new_attachment_id` makes; nothing else names a file."""
SWEEP_EVERY = 60.0


class FolderAttachments(AttachmentStore):
    def __init__(self, folder: str, sessions: SessionStore, sweep_every: float = SWEEP_EVERY) -> None:
        self.folder = Path(folder)
        self.sessions = sessions
        self.sweep_every = sweep_every
        self._sweeping: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await anyio.to_thread.run_sync(lambda: self.folder.mkdir(mode=0o700, parents=True, exist_ok=True))
        self._sweeping = asyncio.create_task(self._sweep_forever())

    async def close(self) -> None:
        if self._sweeping is not None:
            self._sweeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeping
            self._sweeping = None

    def _place(self, session_id: str) -> Path:
        return self.folder / hashlib.blake2b(session_id.encode(), digest_size=20).hexdigest()

    async def _alive(self, session_id: str) -> bool:
        return await self.sessions.get(session_id) is not None

    async def add_attachment(self, session_id: str, attachment: StoredAttachment, max_per_session: int) -> bool | None:
        if not await self._alive(session_id):
            return None
        return await anyio.to_thread.run_sync(self._add, session_id, attachment, max_per_session)

    def _add(self, session_id: str, attachment: StoredAttachment, max_per_session: int) -> bool:
        place = self._place(session_id)
        try:
            place.mkdir(mode=0o700, exist_ok=True)
            with open(place / ".lock", "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if sum(1 for item in place.iterdir() if ATTACHMENT_ID.match(item.name)) >= max_per_session:
                    return False
                _write(place / ".session", session_id.encode())
                _write(place / attachment.id, encode_attachment(attachment))
        except OSError as error:
            raise StoreUnavailable(f"uploads folder: {error}") from error
        return True

    async def attachments(self, session_id: str, ids: list[str]) -> list[StoredAttachment]:
        wanted = [attachment_id for attachment_id in ids if ATTACHMENT_ID.match(attachment_id)]
        if not wanted or not await self._alive(session_id):
            return []
        return await anyio.to_thread.run_sync(self._read, self._place(session_id), wanted)

    @staticmethod
    def _read(place: Path, ids: list[str]) -> list[StoredAttachment]:
        found = []
        for attachment_id in ids:
            try:
                found.append(decode_attachment((place / attachment_id).read_bytes()))
            except FileNotFoundError:
                continue
            except OSError as error:
                raise StoreUnavailable(f"uploads folder: {error}") from error
        return found

    async def forget(self, session_id: str) -> None:
        """Remove the conversation's attachments (it was erased)."""
        await anyio.to_thread.run_sync(lambda: shutil.rmtree(self._place(session_id), ignore_errors=True))

    async def sweep(self) -> int:
        """Remove the folders of conversations that are gone; how many went."""
        gone = 0
        for place in await anyio.to_thread.run_sync(lambda: [p for p in self.folder.iterdir() if p.is_dir()]):
            try:
                session_id = (await anyio.to_thread.run_sync((place / ".session").read_bytes)).decode()
            except (OSError, UnicodeDecodeError):
                session_id = ""
                with contextlib.suppress(OSError):  # being made right now: its file is on the way
                    if place.stat().st_mtime > time.time() - self.sweep_every:
                        continue
            if session_id and await self._alive(session_id):
                continue
            await anyio.to_thread.run_sync(functools.partial(shutil.rmtree, place, ignore_errors=True))
            gone += 1
        return gone

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_every)
            try:
                if gone := await self.sweep():
                    log.info("attachments_swept", conversations=gone)
            except (StoreUnavailable, OSError) as error:  # tried again next time
                log.warning("attachments_sweep_failed", error=str(error))


def _write(path: Path, content: bytes) -> None:
    """Written whole, then renamed: a reader never sees half a file."""
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(content)
    os.replace(partial, path)

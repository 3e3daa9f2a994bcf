"""Visitors' attachments: ``[uploads]``, checking and converting an upload, keeping it with the
conversation, and handing a question's attachments to the turn.

An upload is refused before any work when it is empty, over ``max_bytes``, or not of an accepted
type as its bytes say (:mod:`chatkit_core.chat.filetypes`); it is converted to safe content in a
child process (:mod:`chatkit_core.chat.convert`), at most ``max_conversions`` at a time; a
document's text is cleaned like a visitor's message; then it is kept in the session store
(:class:`~chatkit_core.chat.attachments.AttachmentStore`) or in ``folder``, with the conversation.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar, cast

import msgspec
import structlog

from chatkit_core.chat.attachment_folder import FolderAttachments
from chatkit_core.chat.attachments import AttachmentsFull, AttachmentStore, StoredAttachment, new_attachment_id
from chatkit_core.chat.convert import Job, Kind, Limits, Outcome, run
from chatkit_core.chat.errors import ChatError, SessionNotFound, invalid
from chatkit_core.chat.filetypes import IMAGES, TYPES, clean_name, sniff, text_kind
from chatkit_core.chat.sanitize import Sanitizers
from chatkit_core.chat.sessions import SessionStore, store_outage
from chatkit_core.models import Attachment

log = structlog.get_logger("chatkit.uploads")

MIB = 1024 * 1024


class UploadsConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``[uploads]``: files visitors may attach to their questions (off unless ``enabled``)."""

    config_paths: ClassVar[tuple[str, ...]] = ("folder",)
    enabled: bool = False
    types: list[str] = msgspec.field(default_factory=lambda: list(TYPES))
    """Accepted kinds: ``png``, ``jpeg``, ``webp``, ``pdf``, ``text``, ``markdown``."""
    max_bytes: int = 10 * MIB
    """Largest upload, bytes."""
    max_per_message: int = 4
    max_per_session: int = 20
    folder: str = ""
    """Keep attachments as files here instead of in the session store."""
    max_pixels: int = 40_000_000
    """Largest image, in pixels (width times height): a bigger one is refused (decompression bombs)."""
    max_side: int = 2048
    """An image is scaled down to fit this many pixels on its longer side."""
    max_pages: int = 50
    """Pages of a PDF read for text."""
    max_text_chars: int = 20_000
    """Characters of a document's text kept, and of all documents' text sent with one question."""
    timeout: float = 10.0
    """Seconds one conversion may take."""
    max_memory: int = 1024 * MIB
    """Address space of the process converting one upload, bytes."""
    max_conversions: int = 2
    """Uploads converted at once per server process; a few more wait, the rest are told to retry."""

    def __post_init__(self) -> None:
        unknown = [kind for kind in self.types if kind not in TYPES]
        if unknown:
            raise ValueError(f"types: unknown type {unknown[0]!r}; accepted types: {', '.join(TYPES)}")
        if not self.types:
            raise ValueError("types: name at least one type, or set enabled = false")
        if not 1024 <= self.max_bytes <= 100 * MIB:
            raise ValueError("max_bytes: must be between 1024 and 104857600 (100 MB)")
        if self.max_per_message < 1 or self.max_per_session < self.max_per_message:
            raise ValueError("max_per_message must be at least 1 and max_per_session at least max_per_message")
        if self.max_pixels < 10_000 or self.max_side < 64 or self.max_pages < 1 or self.max_text_chars < 100:
            raise ValueError("max_pixels, max_side, max_pages and max_text_chars are too small to read a file")
        if self.timeout <= 0 or self.max_conversions < 1 or self.max_memory < 256 * MIB:
            raise ValueError("timeout must be > 0, max_conversions >= 1 and max_memory at least 268435456 (256 MB)")

    @property
    def limits(self) -> Limits:
        return Limits(max_pixels=self.max_pixels, max_side=self.max_side, max_pages=self.max_pages,
                      max_text_chars=self.max_text_chars, max_output_bytes=self.max_bytes, timeout=self.timeout,
                      max_memory=self.max_memory)


class UnsupportedFile(ChatError):
    code = "unsupported_media_type"


class FileTooLarge(ChatError):
    code = "body_too_large"


class UnreadableFile(ChatError):
    code = "unreadable_file"


class TooManyAttachments(ChatError):
    code = "too_many_attachments"


class AttachmentNotFound(ChatError):
    code = "attachment_not_found"

    def __init__(self) -> None:
        super().__init__("This attachment is not in the conversation.")


class UploadsBusy(ChatError):
    code = "uploads_busy"

    def __init__(self) -> None:
        super().__init__("Too many files are being read right now. Please try again in a moment.")


_REFUSALS: dict[str, type[ChatError]] = {
    "unsupported_media_type": UnsupportedFile, "body_too_large": FileTooLarge, "unreadable_file": UnreadableFile}
_FALLBACK_NAMES = {"png": "image.png", "jpeg": "image.jpg", "webp": "image.webp", "pdf": "document.pdf",
                   "text": "document.txt", "markdown": "document.md"}


def human_size(size: int) -> str:
    """``10 MB``, ``1.5 MB``, ``64 KB``: a limit as a visitor reads it."""
    unit, scale = ("MB", MIB) if size >= MIB else ("KB", 1024)
    return f"{size / scale:.1f}".rstrip("0").rstrip(".") + " " + unit


def too_large(limit: int) -> FileTooLarge:
    return FileTooLarge(f"The file is too large. Please send one under {human_size(limit)}.", limit=limit)



class Uploads:
    """The ``[uploads]`` service one runtime holds (None when uploads are off)."""

    def __init__(self, config: UploadsConfig, store: AttachmentStore, sessions: SessionStore,
                 sanitizers: Sanitizers) -> None:
        self.config = config
        self.store = store
        self.sessions = sessions
        self.sanitizers = sanitizers
        self._slots = asyncio.Semaphore(config.max_conversions)
        self._waiting = 0

    async def start(self) -> None:
        if isinstance(self.store, FolderAttachments):
            await self.store.start()

    async def close(self) -> None:
        if isinstance(self.store, FolderAttachments):
            await self.store.close()

    @property
    def accepted(self) -> list[str]:
        """The accepted media types, for the widget's file picker."""
        return [TYPES[kind] for kind in self.config.types]

    def _refuse_type(self) -> UnsupportedFile:
        names = {"png": "PNG", "jpeg": "JPEG", "webp": "WebP", "pdf": "PDF", "text": "text", "markdown": "Markdown"}
        kinds = ", ".join(names[kind] for kind in self.config.types)
        return UnsupportedFile(f"This kind of file is not accepted here. Accepted: {kinds}.")

    def _kind(self, name: str, data: bytes) -> tuple[Kind, str]:
        """What the bytes are (for the converter) and the type they count as (for ``types``)."""
        if not data:
            raise invalid("file", "The file is empty.")
        if len(data) > self.config.max_bytes:
            raise too_large(self.config.max_bytes)
        found = sniff(data)
        if found == "markup":
            raise UnsupportedFile("SVG, HTML and XML files are not accepted, as a browser could run what they hold.")
        if found is None:
            raise self._refuse_type()
        label = text_kind(name) if found == "text" else found
        if label not in self.config.types:
            raise self._refuse_type()
        return cast(Kind, found), label

    async def add(self, session_id: str, name: str, data: bytes) -> Attachment:
        """Check, convert and keep an upload; its public description."""
        kind, label = self._kind(name, data)
        async with store_outage():
            if await self.sessions.get(session_id) is None:
                raise SessionNotFound()
        outcome = await self._convert(Job(kind=kind, data=data, limits=self.config.limits))
        content = outcome.data
        if outcome.media_type == "text/plain":
            content = self.sanitizers.clean_input(content.decode("utf-8")).strip().encode("utf-8")
            if not content:
                raise UnreadableFile("No text could be read from this file.")
        stored = StoredAttachment(id=new_attachment_id(), type=TYPES[label], media_type=outcome.media_type,
                                  name=clean_name(name, _FALLBACK_NAMES[label]), data=content, cut=outcome.cut)
        async with store_outage():
            try:
                added = await self.store.add_attachment(session_id, stored, self.config.max_per_session)
            except AttachmentsFull:
                raise UploadsBusy() from None
        if added is None:
            raise SessionNotFound()
        if not added:
            raise TooManyAttachments(f"This conversation already holds {self.config.max_per_session} attachments. "
                                     "Please start a new conversation to send more.",
                                     limit=self.config.max_per_session)
        log.info("attachment_added", type=stored.type, bytes=len(content), kind="image" if kind in IMAGES else "text")
        return stored.public()

    async def _convert(self, job: Job) -> Outcome:
        """``job`` in a child process, when one of ``max_conversions`` slots is free; a few wait."""
        if self._slots.locked() and self._waiting >= 4 * self.config.max_conversions:
            raise UploadsBusy()
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
        try:
            outcome = await run(job, self.config.timeout)
        finally:
            self._slots.release()
        if outcome.code:
            raise _REFUSALS.get(outcome.code, UnreadableFile)(outcome.message)
        return outcome

    async def take(self, session_id: str, ids: list[str]) -> list[StoredAttachment]:
        """The attachments ``ids`` of a question, all of them in the conversation, or an error."""
        wanted = list(dict.fromkeys(ids))
        if len(wanted) > self.config.max_per_message:
            raise TooManyAttachments(f"Please attach at most {self.config.max_per_message} files to one message.",
                                     limit=self.config.max_per_message)
        async with store_outage():
            found = await self.store.attachments(session_id, wanted)
        if len(found) != len(wanted):
            raise invalid("attachments", "An attachment is no longer in this conversation. Please attach the file "
                          "again.")
        return found

    async def forget(self, session_id: str) -> None:
        """The conversation was erased: its files go too (a store's go with it by themselves)."""
        if isinstance(self.store, FolderAttachments):
            await self.store.forget(session_id)

    async def get(self, session_id: str, attachment_id: str) -> StoredAttachment:
        async with store_outage():
            found = await self.store.attachments(session_id, [attachment_id])
        if not found:
            raise AttachmentNotFound()
        return found[0]


async def attached(uploads: Uploads | None, session_id: str, ids: list[str]) -> list[StoredAttachment]:
    """The files a question attaches, by id (none: none)."""
    if not ids:
        return []
    if uploads is None:
        raise invalid("attachments", "This service does not accept attachments.")
    return await uploads.take(session_id, ids)

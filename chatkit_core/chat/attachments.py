"""Visitors' attachments as a store keeps them, and :class:`AttachmentStore`, the interface a
session store implements to keep them with its conversations.

What is kept is already made safe (:mod:`chatkit_core.chat.uploads`): an image decoded and
re-encoded without its metadata, a document's text. Erasing a conversation, however it goes
(the visitor erases it, it expires, the console or the retention sweep erases it), erases its
attachments with it.
"""

from __future__ import annotations

import secrets
import time

import msgspec

from chatkit_core.models import Attachment


def new_attachment_id() -> str:
    return "att_" + secrets.token_urlsafe(12)


class StoredAttachment(msgspec.Struct, kw_only=True, array_like=True):
    """One attachment and its safe content."""

    id: str
    type: str
    """What the upload was found to be, as a media type (``image/jpeg``, ``application/pdf``…)."""
    name: str
    """The visitor's file name, cleaned: no folders, no control characters, bounded."""
    media_type: str
    """What ``data`` is: ``image/png``, ``image/jpeg``, ``image/webp``, or ``text/plain`` (UTF-8)."""
    data: bytes
    cut: bool = False
    """A document's text was cut at ``[uploads] max_text_chars``."""
    created_at: float = msgspec.field(default_factory=time.time)

    @property
    def is_image(self) -> bool:
        return self.media_type.startswith("image/")

    @property
    def text(self) -> str:
        return "" if self.is_image else self.data.decode("utf-8")

    def public(self) -> Attachment:
        return Attachment(id=self.id, type=self.type, bytes=len(self.data), name=self.name)


encode_attachment = msgspec.msgpack.Encoder().encode
"""An attachment as the bytes a store keeps (msgpack: the content stays binary, not base64)."""
decode_attachment = msgspec.msgpack.Decoder(StoredAttachment).decode


class AttachmentsFull(Exception):
    """The store holds as many attachment bytes as it may (the memory store's cap)."""


class AttachmentStore:
    """What a session store implements, besides :class:`~chatkit_core.chat.sessions.SessionStore`,
    to keep visitors' attachments with their conversations (``[uploads]`` without a ``folder``).

    Attachments belong to the conversation: every way a conversation goes (``delete``, expiry,
    the retention sweep's ``erase_inactive``) takes its attachments with it. Methods raise
    :class:`~chatkit_core.chat.sessions.StoreUnavailable` when the backing service is down.
    """

    async def add_attachment(self, session_id: str, attachment: StoredAttachment, max_per_session: int) -> bool | None:
        """Keep ``attachment`` with the conversation ``session_id``, unless it already holds
        ``max_per_session`` (False); None when the session is gone. The count and the write are
        one step: concurrent uploads never pass the cap together."""
        raise NotImplementedError

    async def attachments(self, session_id: str, ids: list[str]) -> list[StoredAttachment]:
        """The attachments of ``ids`` the live conversation ``session_id`` holds, in the order asked;
        ids it does not hold (another conversation's, erased, made up) are left out."""
        raise NotImplementedError

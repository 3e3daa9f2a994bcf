"""Attachments in the ``memory`` store: kept in the conversation's own record, so they go
whenever it goes (erased, expired, evicted, swept), with a cap on all of them together."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from chatkit_core.chat.attachments import AttachmentsFull, AttachmentStore, StoredAttachment


class MemoryAttachments(AttachmentStore):
    """The memory store's :class:`AttachmentStore`; it uses the store's ``_live`` and
    ``_conversations`` and its ``max_attachment_bytes`` option."""

    _conversations: OrderedDict[str, Any]
    options: Any

    def _live(self, session_id: str) -> Any:
        raise NotImplementedError

    @property
    def _cap(self) -> int:
        return int(self.options.max_attachment_bytes)

    async def add_attachment(self, session_id: str, attachment: StoredAttachment, max_per_session: int) -> bool | None:
        conversation = self._live(session_id)
        if conversation is None:
            return None
        if len(conversation.attachments) >= max_per_session:
            return False
        if self._held() + len(attachment.data) > self._cap:
            raise AttachmentsFull(f"the memory store holds {self._cap} bytes of attachments already")
        conversation.attachments[attachment.id] = attachment
        return True

    def _held(self) -> int:
        """Bytes of attachments in live records (a scan: uploads are rare next to messages)."""
        return sum(len(item.data) for conversation in self._conversations.values()
                   for item in conversation.attachments.values())

    async def attachments(self, session_id: str, ids: list[str]) -> list[StoredAttachment]:
        conversation = self._live(session_id)
        if conversation is None:
            return []
        return [conversation.attachments[i] for i in ids if i in conversation.attachments]

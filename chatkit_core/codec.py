"""How session stores write conversations: compact JSON through msgspec.

Every store that keeps messages outside the process (SQLite, Redis, a plugin's own) uses
these, so a message written by one store version reads back in any other.
"""

from __future__ import annotations

import html
from typing import Any

import msgspec

from chatkit_core.models import Message, Source

encode = msgspec.json.Encoder().encode
"""A message, session metadata or any msgspec-encodable value as JSON bytes."""
decode_message = msgspec.json.Decoder(Message).decode
decode_metadata = msgspec.json.Decoder(dict[str, Any]).decode


def unescaped(message: Message) -> Message:
    """``message`` as text written, from a store of release 0.2 or earlier, which kept message text,
    source titles and comments HTML-escaped. Stores call it once per message when they migrate."""
    sources = [Source(html.unescape(source.title), source.url) for source in message.sources]
    feedback = (msgspec.structs.replace(message.feedback, comment=html.unescape(message.feedback.comment))
                if message.feedback else None)
    return msgspec.structs.replace(message, content=html.unescape(message.content), sources=sources,
                                   feedback=feedback)

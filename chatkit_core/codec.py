"""How session stores write conversations: compact JSON through msgspec.

Every store that keeps messages outside the process (SQLite, Redis, a plugin's own) uses
these, so a message written by one store version reads back in any other.
"""

from __future__ import annotations

from typing import Any

import msgspec

from chatkit_core.models import Message

encode = msgspec.json.Encoder().encode
"""A message, session metadata or any msgspec-encodable value as JSON bytes."""
decode_message = msgspec.json.Decoder(Message).decode
decode_metadata = msgspec.json.Decoder(dict[str, Any]).decode

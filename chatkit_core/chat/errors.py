"""Why a turn was refused or failed, in words a site visitor can read.

The conversation raises these; :mod:`chatkit_core.http.errors` maps each to its HTTP status in
one table, and ``chatkit chat`` prints the message. ``code`` is the API's error code and
``details`` the extra fields of its error body (``field``, ``limit``, ...).
"""

from __future__ import annotations

from typing import Any, ClassVar


class ChatError(Exception):
    code: ClassVar[str] = "error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidRequest(ChatError):
    """Something the visitor sent cannot be used; ``details["field"]`` names it when one does."""

    code = "invalid_request"


class MessageTooLong(ChatError):
    code = "message_too_long"


class SessionNotFound(ChatError):
    code = "session_not_found"

    def __init__(self) -> None:
        super().__init__("This conversation has expired or does not exist. Please start a new one.")


class MessageNotFound(ChatError):
    code = "message_not_found"

    def __init__(self) -> None:
        super().__init__("This answer is no longer in the conversation.")


class ProvidersUnavailable(ChatError):
    """Every provider in the chain failed; the question stays in the conversation."""

    code = "providers_unavailable"

    def __init__(self, fallbacks: list[str]) -> None:
        super().__init__("The assistant is unavailable right now. Your message was saved; please try again "
                         "in a moment.")
        self.fallbacks = fallbacks


class StreamInterrupted(ChatError):
    """The answering provider failed after the first words; what arrived is kept, marked incomplete."""

    code = "stream_interrupted"

    def __init__(self) -> None:
        super().__init__("The answer was interrupted. What arrived is kept; please try again.")


class ConversationsUnavailable(ChatError):
    """The session store is down (it raised :class:`~chatkit_core.chat.sessions.StoreUnavailable`)."""

    code = "store_unavailable"

    def __init__(self) -> None:
        super().__init__("Conversations are unavailable right now. Please try again in a moment.")


class NotSupported(ChatError):
    code = "not_supported"


def invalid(field: str | None, message: str) -> InvalidRequest:
    return InvalidRequest(message, **({"field": field} if field else {}))


class ConversationNotFound(ChatError):
    """No handoff is known by that conversation id (or its session is gone)."""

    code = "conversation_not_found"

    def __init__(self) -> None:
        super().__init__("No conversation waits for a person under this id.")


class AlreadyClaimed(ChatError):
    """Another operator holds the conversation."""

    code = "already_claimed"

    def __init__(self, operator: str | None) -> None:
        super().__init__("Another operator holds this conversation.", operator=operator)


class NotClaimed(ChatError):
    """The conversation is not held by an operator, so nobody may write to it as one."""

    code = "not_claimed"

    def __init__(self) -> None:
        super().__init__("Claim this conversation before writing to it.")


class HandoffClosed(ChatError):
    code = "handoff_closed"

    def __init__(self) -> None:
        super().__init__("This conversation was handed back or closed; the visitor can ask for a person again.")


class TooManyStreams(ChatError):
    """More event streams than the service allows (per conversation or per instance)."""

    code = "too_many_streams"

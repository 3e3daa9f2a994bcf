"""Visitors rate an answer: ``POST /api/session/{id}/messages/{messageId}/feedback``.

Only assistant messages can be rated; a new rating replaces the previous one
(:meth:`~chatkit_core.chat.turn.Conversation.rate`). Ratings share the chat's rate limit.
"""

from __future__ import annotations

from typing import Literal

import msgspec
from litestar import Request, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK

from chatkit_core.http.api import error_responses
from chatkit_core.http.client import rate_limit
from chatkit_core.models import Message
from chatkit_core.platform.runtime import Runtime


class FeedbackBody(msgspec.Struct):
    rating: Literal["up", "down"]
    comment: str = ""


@post("/api/session/{session_id:str}/messages/{message_id:str}/feedback", status_code=HTTP_200_OK,
      summary="Rate an answer (thumbs up or down, with an optional comment)",
      responses=error_responses(400, 403, 404, 413, 429, 503))
async def rate_answer(
    request: Request, session_id: FromPath[str], message_id: FromPath[str], runtime: NamedDependency[Runtime],
    data: JSONBody[FeedbackBody],
) -> Message:
    await rate_limit(runtime, request, "chat", session_id)
    return await runtime.conversation.rate(session_id, message_id, data.rating, data.comment)


HANDLERS = [rate_answer]

"""Visitors rate an answer: ``POST /api/session/{id}/messages/{messageId}/feedback``.

Only assistant messages can be rated; a new rating replaces the previous one. The comment
is cleaned by the configured sanitizers like any visitor text. Ratings share the chat's
rate limit.
"""

from __future__ import annotations

from typing import Literal

import msgspec
import structlog
from litestar import Request, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK

from chatkit_core.api import error_responses, rate_limit
from chatkit_core.conversation import redact, store_errors
from chatkit_core.errors import APIError, invalid, session_not_found
from chatkit_core.runtime import Runtime
from chatkit_core.sessions import Feedback, Message

log = structlog.get_logger("chatkit.feedback")

MAX_COMMENT_CHARS = 500


class FeedbackBody(msgspec.Struct):
    rating: Literal["up", "down"]
    comment: str = ""


def message_not_found() -> APIError:
    return APIError(404, "message_not_found", "This answer is no longer in the conversation.")


@post("/api/session/{session_id:str}/messages/{message_id:str}/feedback", status_code=HTTP_200_OK,
      summary="Rate an answer (thumbs up or down, with an optional comment)",
      responses=error_responses(400, 403, 404, 413, 429, 503))
async def rate_answer(
    request: Request, session_id: FromPath[str], message_id: FromPath[str], runtime: NamedDependency[Runtime],
    data: JSONBody[FeedbackBody],
) -> Message:
    await rate_limit(runtime, request, "chat", session_id)
    comment = data.comment.strip()
    if len(comment) > MAX_COMMENT_CHARS:
        raise invalid("comment", f"Please keep your comment under {MAX_COMMENT_CHARS} characters.")
    feedback = Feedback(rating=data.rating, comment=runtime.sanitizers.clean_input(comment).strip())
    store = runtime.store
    async with store_errors():
        if await store.get(session_id) is None:
            raise session_not_found()
        try:
            message = await store.set_feedback(session_id, message_id, feedback)
        except NotImplementedError:
            raise APIError(501, "not_supported", "Rating answers is not available on this service.") from None
    if message is None:
        raise message_not_found()
    runtime.metrics.feedback.labels(message.provider or "none", feedback.rating).inc()
    log.info("rated", session=redact(session_id), provider=message.provider, rating=feedback.rating)
    return message


HANDLERS = [rate_answer]

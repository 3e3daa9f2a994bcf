"""The console's handoff pages: the live list of conversations waiting for a person, and one
conversation taken over. The pages are shells; ``static/handoff.js`` fills them from the
operators' API (:mod:`chatkit_core.http.admin.operator_api`) and keeps them live."""

from __future__ import annotations

import re

from litestar import Request, Response, get
from litestar.params import FromPath

from chatkit_core.http.admin.pages import render

_CONVERSATION_ID = re.compile(r"^conv_[A-Za-z0-9_-]{1,40}$")


@get("/handoffs")
async def handoffs_page(request: Request) -> Response:
    return render(request, "handoffs.html")


@get("/handoffs/{conversation_id:str}")
async def handoff_page(request: Request, conversation_id: FromPath[str]) -> Response:
    if not _CONVERSATION_ID.match(conversation_id):
        return render(request, "missing.html", status=404)
    return render(request, "handoff.html", conversation_id=conversation_id)


HANDLERS = [handoffs_page, handoff_page]

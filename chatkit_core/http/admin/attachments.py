"""A visitor's attachment for the operator, under the console's sign-in: an image as re-encoded
(the transcript shows it as a thumbnail), a document's text as a download; never anything a
browser would run."""

from __future__ import annotations

from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath

from chatkit_core.chat.uploads import AttachmentNotFound
from chatkit_core.http.admin.pages import HEADERS, render
from chatkit_core.http.uploads import attachment_response
from chatkit_core.platform.runtime import Runtime


@get("/conversations/{session_id:str}/attachments/{attachment_id:str}")
async def attachment(request: Request, session_id: FromPath[str], attachment_id: FromPath[str],
                     runtime: NamedDependency[Runtime]) -> Response:
    if runtime.uploads is None:
        return render(request, "missing.html", status=404)
    try:
        stored = await runtime.uploads.get(session_id, attachment_id)
    except AttachmentNotFound:
        return render(request, "missing.html", status=404)
    return attachment_response(stored, HEADERS)


HANDLERS = [attachment]

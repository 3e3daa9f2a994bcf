"""Visitors' attachments over HTTP: what the widget may send (``GET /api/uploads``), an upload
(``POST /api/session/{id}/attachments``, one file in the multipart field ``file``) and an
attachment read back by the visitor who sent it (``GET /api/session/{id}/attachments/{attId}``).

An upload runs the chat's rate-limit guard before its body is read, and its body is bounded by
``[uploads] max_bytes`` (plus room for the form's own framing). What is served back is never
something a browser would run: a re-encoded image under its own type, anything else as
``application/octet-stream``, always as a download (``Content-Disposition: attachment``) with
``X-Content-Type-Options: nosniff``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import msgspec
from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException
from litestar.params import FromPath
from litestar.status_codes import HTTP_201_CREATED

from chatkit_core.chat.attachments import StoredAttachment
from chatkit_core.chat.errors import SessionNotFound
from chatkit_core.chat.filetypes import EXTENSIONS, download_name
from chatkit_core.chat.uploads import Uploads, too_large
from chatkit_core.http.api import error_responses
from chatkit_core.http.client import rate_limit
from chatkit_core.http.errors import APIError, invalid
from chatkit_core.http.headers import first_header
from chatkit_core.models import Attachment
from chatkit_core.platform.runtime import Runtime

FORM_ROOM = 64 * 1024
"""Bytes a multipart body may hold beyond the file: the boundary, the part's headers, its name."""


class UploadsInfo(msgspec.Struct, rename="camel"):
    """Whether visitors may attach files, and which: what the widget's attach button offers."""

    enabled: bool
    types: list[str]
    """Accepted media types."""
    accept: str
    """The same as a file input's ``accept`` (extensions and media types)."""
    max_bytes: int
    max_per_message: int


class Uploaded(msgspec.Struct):
    attachment: Attachment


def _info(uploads: Uploads | None) -> UploadsInfo:
    if uploads is None:
        return UploadsInfo(False, [], "", 0, 0)
    config = uploads.config
    accept = ",".join([*uploads.accepted, *(EXTENSIONS[kind] for kind in config.types)])
    return UploadsInfo(True, uploads.accepted, accept, config.max_bytes, config.max_per_message)


@get("/api/uploads", summary="Whether visitors may attach files, which kinds and how large",
     responses=error_responses(403))
async def uploads_info(runtime: NamedDependency[Runtime]) -> UploadsInfo:
    return _info(runtime.uploads)


def _uploads(runtime: Runtime) -> Uploads:
    if runtime.uploads is None:  # routes exist only with uploads on
        raise APIError(404, "not_found", "There is nothing at this address.")
    return runtime.uploads


async def _the_file(request: Request, uploads: Uploads) -> tuple[str, bytes]:
    """The one file of the form's ``file`` field: its name and bytes."""
    try:
        form = await request.form()
    except HTTPException as error:
        if error.status_code == 413:
            raise too_large(uploads.config.max_bytes) from None
        raise invalid("file", "The upload is not a valid multipart form.") from None
    files = [value for value in form.getall("file") if isinstance(value, UploadFile)] if "file" in form else []
    try:
        if len(files) != 1 or len(list(form.multi_items())) != 1:
            raise invalid("file", "Send exactly one file, in the form field `file`.")
        return files[0].filename or "", await files[0].read()
    finally:
        for _, value in form.multi_items():
            if isinstance(value, UploadFile):
                await value.close()


def upload_handler(max_bytes: int) -> Any:
    @post("/api/session/{session_id:str}/attachments", status_code=HTTP_201_CREATED,
          summary="Attach a file to the conversation (multipart/form-data, one file in the field `file`)",
          responses=error_responses(400, 403, 404, 413, 415, 422, 429, 503),
          request_max_body_size=max_bytes + FORM_ROOM)
    async def upload(request: Request, session_id: FromPath[str],
                     runtime: NamedDependency[Runtime]) -> Response[Uploaded]:
        uploads = _uploads(runtime)
        content_type = (first_header(request.scope, b"content-type") or b"").decode("latin-1")
        if content_type.split(";", 1)[0].strip().lower() != "multipart/form-data":
            raise APIError(415, "unsupported_media_type",
                           "Send the file as multipart/form-data, in the form field `file`.")
        headers = await rate_limit(runtime, request, "chat", session_id)  # before the body is read
        if await runtime.store.get(session_id) is None:
            raise SessionNotFound()
        name, data = await _the_file(request, uploads)
        attachment = await uploads.add(session_id, name, data)
        return Response(Uploaded(attachment), status_code=HTTP_201_CREATED, headers=headers)

    return upload


def content_disposition(name: str) -> str:
    """``attachment`` with the name as ASCII (for old clients) and as UTF-8 (RFC 6266)."""
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\%' else "_" for c in name)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def attachment_response(stored: StoredAttachment, headers: dict[str, str] | None = None) -> Response[bytes]:
    """An attachment as a download: a re-encoded image as itself, anything else as octet-stream."""
    media_type = stored.media_type if stored.is_image else "application/octet-stream"
    return Response(stored.data, media_type=media_type, headers={
        **(headers or {}), "Content-Disposition": content_disposition(download_name(stored.name, stored.media_type)),
        "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"})


@get("/api/session/{session_id:str}/attachments/{attachment_id:str}", summary="An attachment of the conversation",
     responses=error_responses(403, 404, 503), media_type="application/octet-stream")
async def read_attachment(session_id: FromPath[str], attachment_id: FromPath[str],
                          runtime: NamedDependency[Runtime]) -> Response[bytes]:
    return attachment_response(await _uploads(runtime).get(session_id, attachment_id))


def handlers(runtime: Runtime) -> list[Any]:
    """The visitors' routes: the upload and reading back only when ``[uploads]`` is on."""
    if runtime.uploads is None:
        return [uploads_info]
    return [uploads_info, upload_handler(runtime.uploads.config.max_bytes), read_attachment]

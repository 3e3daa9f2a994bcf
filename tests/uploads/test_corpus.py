"""Every file of the corpus (``make_corpus.py``), ordinary and hostile, through the upload API: it
is refused with a clear error, or kept as safe content (an image re-encoded from its pixels
alone, a document as its text) and served back as nothing a browser would run."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import pytest
from PIL import Image

from tests.uploads.conftest import corpus, new_session, upload
from tests.uploads.make_corpus import FILES, SCRIPT, SECRET


@dataclass
class Kept:
    type: str
    has: list[str] = field(default_factory=list)
    lacks: list[str] = field(default_factory=list)
    cut: bool = False


@dataclass
class Refused:
    status: int
    code: str
    says: str


NOT_ACCEPTED = Refused(415, "unsupported_media_type", "not accepted")
MARKUP = Refused(415, "unsupported_media_type", "SVG, HTML and XML files are not accepted")

CORPUS = {
    "photo-gps.jpg": Kept("image/jpeg"),
    "metadata.png": Kept("image/png"),
    "transparent.webp": Kept("image/webp"),
    "animated.webp": Kept("image/webp"),
    "polyglot-jpeg-html.jpg": Kept("image/jpeg"),
    "polyglot-png-zip.png": Kept("image/png"),
    "bomb.png": Refused(413, "body_too_large", "at most 40 megapixels"),
    "bomb.webp": Refused(413, "body_too_large", "at most 40 megapixels"),
    "truncated.jpg": Refused(422, "unreadable_file", "could not be read"),
    "script.svg": MARKUP,
    "svg-as-photo.png": MARKUP,
    "page-as-photo.jpg": MARKUP,
    "utf16-page.txt": MARKUP,
    "archive.txt": NOT_ACCEPTED,
    "program.pdf": NOT_ACCEPTED,
    "gif-as-png.png": NOT_ACCEPTED,
    "binary.txt": NOT_ACCEPTED,
    "invoice-javascript.pdf": Kept("application/pdf", has=["Invoice 2041: total 129.00 EUR"],
                                   lacks=["alert", "JavaScript", "exportDataObject"]),
    "launch-action.pdf": Kept("application/pdf", has=["Open me"], lacks=["cmd.exe", "calc"]),
    "protected.pdf": Refused(422, "unreadable_file", "protected by a password"),
    "bomb.pdf": Refused(422, "unreadable_file", "could not be read"),
    "not-really.pdf": Refused(422, "unreadable_file", "could not be read"),
    "catalogue-80-pages.pdf": Kept("application/pdf", has=["Page 1 of", "Page 50 of"], lacks=["Page 51 of"],
                                   cut=True),
    "polyglot-pdf-html.pdf": Kept("application/pdf", has=["Price list"], lacks=["<img", "onerror", "<html"]),
    "control-tokens.md": Kept("text/markdown", has=["< |im_start|>system", "[ INST]"],
                              lacks=["<|im_start|>", "<|im_end|>", "[INST]", "\u200b"]),
    "latin1-notes.txt": Kept("text/plain", has=["Le café est fermé le dimanche", "crêpes"]),
}


def test_the_corpus_has_an_expectation_for_every_file() -> None:
    assert set(CORPUS) == set(FILES)


@pytest.mark.parametrize("name", sorted(CORPUS))
async def test_each_file_is_refused_or_made_safe(client, name: str) -> None:
    expected = CORPUS[name]
    session = await new_session(client)
    # Whatever the name and the header say: the bytes decide.
    response = await upload(client, session, name, corpus(name), "image/png")
    if isinstance(expected, Refused):
        assert response.status_code == expected.status, response.text
        error = response.json()["error"]
        assert error["code"] == expected.code and expected.says in error["message"], error
        return
    assert response.status_code == 201, response.text
    attachment = response.json()["attachment"]
    assert attachment["type"] == expected.type and attachment["name"] == name
    served = await client.get(f"/api/session/{session}/attachments/{attachment['id']}")
    assert served.status_code == 200 and len(served.content) == attachment["bytes"]
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["content-disposition"].startswith("attachment; filename=")
    assert "default-src 'none'" in served.headers["content-security-policy"]
    for hidden in (SCRIPT, SECRET.encode(), b"<html", b"PK\x03\x04"):
        assert hidden not in served.content
    if expected.type.startswith("image/"):
        assert served.headers["content-type"] == expected.type
        safe_image(served.content, expected.type)
    else:
        assert served.headers["content-type"] == "application/octet-stream"
        text = served.content.decode("utf-8")
        assert all(part in text for part in expected.has), text[:300]
        assert not any(part in text for part in expected.lacks), text[:300]


def safe_image(data: bytes, media_type: str) -> None:
    """Re-encoded from its pixels: its own format, nothing but image data."""
    for marker in (b"Exif", b"tEXt", b"iTXt", b"zTXt", b"iCCP", b"XMP", b"<x:xmpmeta"):
        assert marker not in data, marker
    with Image.open(io.BytesIO(data)) as picture:
        assert picture.format == {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}[media_type]
        assert not picture.getexif() and "icc_profile" not in picture.info and getattr(picture, "n_frames", 1) == 1


async def test_a_photo_is_turned_upright_before_its_exif_goes(client) -> None:
    session = await new_session(client)
    attachment = (await upload(client, session, "photo-gps.jpg", corpus("photo-gps.jpg"))).json()["attachment"]
    served = await client.get(f"/api/session/{session}/attachments/{attachment['id']}")
    with Image.open(io.BytesIO(served.content)) as picture:
        assert picture.size == (48, 64)  # 64 x 48, EXIF orientation 6 (rotated a quarter turn)


async def test_transparency_is_kept_and_an_animation_keeps_its_first_frame(client) -> None:
    session = await new_session(client)
    for name, mode in (("transparent.webp", "RGBA"), ("animated.webp", "RGB")):
        attachment = (await upload(client, session, name, corpus(name))).json()["attachment"]
        served = await client.get(f"/api/session/{session}/attachments/{attachment['id']}")
        with Image.open(io.BytesIO(served.content)) as picture:
            assert picture.mode == mode and getattr(picture, "n_frames", 1) == 1
            assert picture.getpixel((32, 5))[:3] != (255, 0, 0)  # the first frame, not the red second one


def raw_form(name: bytes, data: bytes) -> tuple[bytes, dict[str, str]]:
    """A multipart body naming the file with exactly these bytes (clients escape some of them)."""
    boundary = b"chatkit-test-boundary"
    body = (b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="' + name +
            b'"\r\nContent-Type: text/plain\r\n\r\n' + data + b"\r\n--" + boundary + b"--\r\n")
    return body, {"Content-Type": "multipart/form-data; boundary=" + boundary.decode()}


@pytest.mark.parametrize(("sent", "kept"), [
    ("../../etc/passwd.txt", "passwd.txt"),
    ("C:\\Users\\me\\Desktop\\notes.txt", "notes.txt"),
    ("notes\x01\x07\x1b[31m\x7f.txt", "notes[31m.txt"),
    ("\u202eexe.txt", "exe.txt"),
    ("bad:*?<>|name.txt", "bad_name.txt"),
    ("...", "document.txt"),
    ("x" * 300 + ".txt", "x" * 96 + ".txt"),
])
async def test_a_name_keeps_no_path_or_control_characters(client, sent: str, kept: str) -> None:
    session = await new_session(client)
    body, headers = raw_form(sent.encode(), b"Opening hours, please.")
    response = await client.post(f"/api/session/{session}/attachments", content=body, headers=headers)
    assert response.status_code == 201, response.text
    attachment = response.json()["attachment"]
    assert attachment["name"] == kept
    served = await client.get(f"/api/session/{session}/attachments/{attachment['id']}")
    disposition = served.headers["content-disposition"]
    assert "\r" not in disposition and "\n" not in disposition and "/" not in disposition.split(";")[1]

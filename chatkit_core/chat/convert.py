"""Turning an uploaded file into safe content, in a child process of its own.

Decoders are where hostile files do their work: a decompression bomb, a PDF built to loop, a
crafted image a C decoder trips over. So no upload is decoded in the server. Each runs in a fresh
``python -m chatkit_core.chat.convert``, which reads one :class:`Job` on stdin and writes one
:class:`Outcome` on stdout, under limits of its own (address space and CPU time, where the
system lets a process set them) and killed by the server after ``[uploads] timeout``. A file
that breaks its child breaks nothing else, and no file sees another's leftovers.

- An image (Pillow, decoders limited to the sniffed format): refused over ``max_pixels`` (a
  decompression bomb), its first frame turned upright, scaled to at most ``max_side``, and
  re-encoded in its own format from the pixels alone: no metadata (EXIF, GPS, XMP, ICC, text
  chunks), nothing appended, nothing of a polyglot's other half.
- A PDF (pypdf): the text of at most ``max_pages`` pages, at most ``max_text_chars`` of it.
  Nothing in it is run or kept: scripts, forms, links and attachments are dropped with the file.
- A text file (charset-normalizer when it is not UTF-8): the text, control characters removed.

Pillow, pypdf and charset-normalizer (``chatkit-core[uploads]``) load only in the child.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
import resource
import sys
import time
import unicodedata
import warnings
from typing import TYPE_CHECKING, Literal

import msgspec

if TYPE_CHECKING:
    from PIL.Image import Image as Picture

Kind = Literal["png", "jpeg", "webp", "pdf", "text"]


class Limits(msgspec.Struct, kw_only=True, frozen=True):
    max_pixels: int = 40_000_000
    max_side: int = 2048
    max_pages: int = 50
    max_text_chars: int = 20_000
    max_output_bytes: int = 10 * 1024 * 1024
    timeout: float = 10.0
    max_memory: int = 1024 * 1024 * 1024


class Job(msgspec.Struct, kw_only=True, frozen=True):
    kind: Kind
    data: bytes
    limits: Limits = Limits()


class Outcome(msgspec.Struct, kw_only=True, frozen=True):
    """What became of a file: safe content, or why it was refused (``code`` and a sentence)."""

    media_type: str = ""
    data: bytes = b""
    cut: bool = False
    """A document's text was cut at ``max_text_chars`` (or ``max_pages``)."""
    code: str = ""
    message: str = ""


class Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def unreadable(what: str) -> Refused:
    return Refused("unreadable_file", f"The {what} could not be read: it may be damaged or protected.")


# The child.

_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
_MODES = {"PNG": ("L", "LA", "RGB", "RGBA"), "JPEG": ("L", "RGB"), "WEBP": ("RGB", "RGBA")}


def image(data: bytes, kind: str, limits: Limits) -> Outcome:
    from PIL import Image, ImageOps, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = limits.max_pixels
    warnings.simplefilter("error", Image.DecompressionBombWarning)
    fmt = _FORMATS[kind]
    too_big = Refused("body_too_large", f"The image is too large: at most {limits.max_pixels // 1_000_000} "
                      "megapixels, please.")
    try:
        with Image.open(io.BytesIO(data), formats=[fmt]) as opened:
            if opened.width * opened.height > limits.max_pixels:
                raise too_big
            if fmt == "JPEG":  # decode at a reduced scale when the image is bigger than kept
                opened.draft("RGB", (limits.max_side, limits.max_side))
            opened.seek(0)  # an animation's first frame
            opened.load()
            upright = ImageOps.exif_transpose(opened) or opened
            upright.thumbnail((limits.max_side, limits.max_side), Image.Resampling.LANCZOS)
            clean = _pixels_only(upright, fmt)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise too_big from None
    except (OSError, SyntaxError, ValueError, EOFError, UnidentifiedImageError, MemoryError):
        raise unreadable("image") from None
    out = io.BytesIO()
    options = {"JPEG": {"quality": 85}, "WEBP": {"quality": 85}, "PNG": {}}[fmt]
    clean.save(out, fmt, **options)
    if out.tell() > limits.max_output_bytes:
        raise Refused("body_too_large", "The image holds too much detail to keep. Please send a smaller one or a "
                      "JPEG.")
    return Outcome(media_type=f"image/{kind}", data=out.getvalue())


def _pixels_only(picture: Picture, fmt: str) -> Picture:
    """A new image holding only ``picture``'s pixels, in a mode ``fmt`` stores: no metadata,
    transparency kept as an alpha channel (where ``fmt`` has one)."""
    from PIL import Image

    alpha = "A" in picture.getbands() or "transparency" in picture.info
    grey = picture.mode in ("1", "L", "LA", "I", "I;16", "F")
    mode = ("LA" if alpha else "L") if grey else ("RGBA" if alpha else "RGB")
    if mode not in _MODES[fmt]:  # JPEG has no alpha, WebP no grey
        mode = {"LA": "L", "RGBA": "RGB"}[mode] if fmt == "JPEG" else ("RGBA" if alpha else "RGB")
    converted = picture.convert(mode)
    clean = Image.new(mode, converted.size)
    clean.paste(converted)
    return clean


def pdf(data: bytes, limits: Limits) -> Outcome:
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError, PyPdfError

    logging.disable(logging.WARNING)  # pypdf logs every oddity of a malformed file
    deadline = time.monotonic() + limits.timeout
    parts: list[str] = []
    size, cut = 0, False
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise Refused("unreadable_file", "The PDF is protected by a password. Please send one without.")
        for number, page in enumerate(reader.pages):
            if number >= limits.max_pages or size >= limits.max_text_chars or time.monotonic() > deadline:
                cut = True
                break
            text = page.extract_text() or ""
            parts.append(text)
            size += len(text)
    except Refused:
        raise
    except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError,
            OSError, NotImplementedError, MemoryError, ZeroDivisionError):
        raise unreadable("PDF") from None
    text, shortened = _bounded(clean_text("\n\n".join(parts)), limits.max_text_chars)
    return Outcome(media_type="text/plain", data=text.encode("utf-8"), cut=cut or shortened)


def text(data: bytes, limits: Limits) -> Outcome:
    try:
        decoded = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        decoded = _detected(data)
    controls = sum(1 for c in decoded if unicodedata.category(c) == "Cc" and c not in "\t\n\r\f")
    if controls > max(2, len(decoded) // 100):  # binary that happened to decode
        raise Refused("unsupported_media_type", _NOT_ACCEPTED)
    kept, cut = _bounded(clean_text(decoded), limits.max_text_chars)
    return Outcome(media_type="text/plain", data=kept.encode("utf-8"), cut=cut)


def _detected(data: bytes) -> str:
    """Text in another encoding than UTF-8, as charset-normalizer finds it; between equally likely
    ones, windows-1252, which browsers also assume (short Western text fits several code pages)."""
    from charset_normalizer import from_bytes

    found = from_bytes(data)
    best = found.best()
    if best is None:
        raise Refused("unsupported_media_type", _NOT_ACCEPTED)
    tied = [match for match in found if (match.chaos, match.coherence) == (best.chaos, best.coherence)]
    return str(next((match for match in tied if match.encoding == "cp1252"), best))


_NOT_ACCEPTED = ("This kind of file is not accepted. Please send a PNG, JPEG or WebP image, a PDF, or a text "
                 "file.")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_BLANK_LINES = re.compile(r"\n{3,}")


def clean_text(value: str) -> str:
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return _BLANK_LINES.sub("\n\n", _CONTROL.sub("", value)).strip()


def _bounded(value: str, limit: int) -> tuple[str, bool]:
    if len(value) <= limit:
        return value, False
    return value[:limit].rsplit(" ", 1)[0] + " …", True


def convert(job: Job) -> Outcome:
    try:
        if job.kind == "pdf":
            return pdf(job.data, job.limits)
        if job.kind == "text":
            return text(job.data, job.limits)
        return image(job.data, job.kind, job.limits)
    except Refused as refused:
        return Outcome(code=refused.code, message=refused.message)


def _limit_self(limits: Limits) -> None:
    """Bounds of the child's own, where the system lets a process set them (a systemd unit's
    ``SystemCallFilter=~@resources`` does not: the unit's own limits and the timeout hold)."""
    cpu = int(limits.timeout) + 2
    for which, value in ((resource.RLIMIT_AS, limits.max_memory), (resource.RLIMIT_CPU, cpu),
                         (resource.RLIMIT_FSIZE, 0), (resource.RLIMIT_CORE, 0)):
        with contextlib.suppress(OSError, ValueError):
            resource.setrlimit(which, (value, value))


def main() -> None:
    job = msgspec.msgpack.decode(sys.stdin.buffer.read(), type=Job)
    _limit_self(job.limits)
    sys.stdout.buffer.write(msgspec.msgpack.encode(convert(job)))
    sys.stdout.buffer.flush()


# The server's side.

_CRASHED = Outcome(code="unreadable_file", message="The file could not be read: it may be damaged.")
_SLOW = Outcome(code="unreadable_file", message="The file took too long to read. Please send a simpler one.")


async def run(job: Job, timeout: float) -> Outcome:
    """``job`` converted in a child process, killed after ``timeout`` seconds."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-B", "-m", "chatkit_core.chat.convert", stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    try:
        out, _ = await asyncio.wait_for(child.communicate(msgspec.msgpack.encode(job)), timeout)
    except TimeoutError:
        return _SLOW
    finally:
        if child.returncode is None:
            child.kill()
            with contextlib.suppress(ProcessLookupError):
                await asyncio.shield(child.wait())
    if child.returncode != 0 or not out:
        return _CRASHED  # killed by its memory or CPU limit, or a decoder crashed
    try:
        return msgspec.msgpack.decode(out, type=Outcome)
    except msgspec.DecodeError:
        return _CRASHED


if __name__ == "__main__":
    main()

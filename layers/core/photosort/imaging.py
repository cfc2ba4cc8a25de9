"""Safe image decoding: identify by bytes, refuse bombs, honour EXIF orientation.

Every decode in photosort goes through here. Images are opened with an explicit list of allowed formats,
the declared size is checked against ``max_pixels`` before any pixel is decoded, Pillow's decompression-bomb
warning is an error while frames are read and decoded, truncated files are never silently padded, and PNG
critical chunks must have correct CRCs (Pillow does not check IDAT CRCs). Whatever Pillow raises on hostile
bytes comes out as :class:`~photosort.errors.ImageUnusableError` with a named reason. A broken EXIF block only
loses metadata: it never rejects a photo. No numpy: the Inspect function and the AWS conversions need Pillow only.

Pillow is imported inside the functions, never at the top of this module, on purpose. ``photosort.pipeline``
imports this module, and every handler imports the pipeline, but only Inspect and Classify get the ImagingLayer
(Pillow, pi-heif): Record, Sort and Quarantine run without it, so a top-level ``import PIL`` would make them fail
at import time (and would add Pillow's import time to their cold starts). Type hints import it under
``TYPE_CHECKING`` only.
"""

from __future__ import annotations

import struct
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from io import BytesIO
from typing import TYPE_CHECKING

from photosort.errors import ImageUnusableError
from photosort.models import DEFAULT_MAX_PIXELS, ImageMetadata, RejectionReason

if TYPE_CHECKING:
    from PIL.Image import Exif, Image

# Formats we decode, as Pillow names them. HEIF comes from pillow-heif (phone photos).
# AVIF is Pillow's own plugin (its brand sniffs as HEIF, and it is reported as HEIF).
ALLOWED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP", "HEIF", "AVIF")

_EXIF_ORIENTATION = 0x0112
_EXIF_MAKE = 0x010F
_EXIF_MODEL = 0x0110
_EXIF_DATETIME = 0x0132
_EXIF_IFD = 0x8769
_EXIF_DATETIME_ORIGINAL = 0x9003

_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif")


def sniff_format(head: bytes) -> str | None:
    """Name the image format from the first bytes, or None. Never looks at a name or a Content-Type."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if head[:2] == b"BM" and len(head) >= 26:
        return "BMP"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "HEIF"
    return None


# Files that are not photos photosort can decode, named so that the rejection says what the file is. JPEG XL:
# the maintained plugin (pillow-jxl-plugin 1.3.8, 6.6 MB unzipped on arm64) does not fit the Classify layer
# budget (122 of 125 MB used), so JPEG XL is recognised and rejected by name rather than decoded.
_ISO_VIDEO_BRANDS = {
    b"qt  ": "video/quicktime (MOV)",
    b"3gp4": "video/3gpp",
    b"3gp5": "video/3gpp",
    b"3gp6": "video/3gpp",
    b"3g2a": "video/3gpp2",
    b"M4A ": "audio/mp4",
    b"crx ": "Canon CR3 raw",
}
_MP4_BRANDS = (b"isom", b"iso2", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1", b"dash", b"M4V ", b"M4VP",
               b"mmp4", b"f4v ", b"MSNV", b"XAVC")  # fmt: skip
_PREFIXES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\x0a", "JPEG XL"),
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n", "JPEG XL"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG 2000"),
    (b"\xff\x4f\xff\x51", "JPEG 2000"),
    (b"8BPS", "image/vnd.adobe.photoshop (PSD)"),
    (b"\x1a\x45\xdf\xa3", "video/x-matroska (MKV/WebM)"),
    (b"FLV\x01", "video/x-flv"),
    (b"\x00\x00\x01\xba", "video/mpeg"),
    (b"\x00\x00\x01\xb3", "video/mpeg"),
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip (ZIP, or an Office/OpenDocument file)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage (DOC/XLS/PPT)"),
    (b"{\\rtf", "application/rtf"),
    (b"%!PS", "application/postscript"),
    (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (b"Rar!\x1a\x07", "application/vnd.rar"),
    (b"\x1f\x8b", "application/gzip"),
    (b"ID3", "audio/mpeg"),
    (b"fLaC", "audio/flac"),
    (b"OggS", "application/ogg"),
)


def sniff_other(head: bytes) -> str | None:
    """Name a well-known non-photo (or undecodable photo) format from its first bytes, or None."""
    for prefix, name in _PREFIXES:
        if head.startswith(prefix):
            return name
    if head[:4] == b"RIFF":
        return {b"AVI ": "video/x-msvideo (AVI)", b"WAVE": "audio/wav"}.get(head[8:12])
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _ISO_VIDEO_BRANDS:
            return _ISO_VIDEO_BRANDS[brand]
        return "video/mp4" if brand in _MP4_BRANDS else f"ISO media ({brand.decode('latin-1').strip()!r} brand)"
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free"):
        return "video/quicktime (MOV)"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<svg", b"<?xml")) and b"<svg" in head.lower():
        return "image/svg+xml (vector drawing)"
    if text.startswith((b"<!doctype html", b"<html")):
        return "text/html"
    return None


_plugins_registered = False


def _register_plugins() -> None:
    global _plugins_registered  # noqa: PLW0603 - one-time plugin registration, not per call
    if not _plugins_registered:
        # pi-heif is pillow-heif's decode-only build (no HEVC encoder): what the imaging layer ships. Without
        # either, HEIC must fail loudly rather than be rejected as corrupt, hence no silent fallback.
        try:
            from pi_heif import register_heif_opener
        except ImportError:
            from pillow_heif import register_heif_opener
        register_heif_opener()
        _plugins_registered = True


def _classify_decode_error(exc: BaseException) -> RejectionReason:
    text = str(exc).lower()
    if "truncated" in text or isinstance(exc, EOFError) or "end of file" in text or "premature" in text:
        return RejectionReason.TRUNCATED_IMAGE
    return RejectionReason.CORRUPT_IMAGE


@contextmanager
def _guard(kind: str | None) -> Iterator[None]:
    """Run Pillow on untrusted bytes: bomb warnings are errors, and every failure becomes ImageUnusableError.

    Hostile bytes make Pillow's parsers raise nearly anything (OSError, SyntaxError, ValueError, EOFError,
    struct.error, IndexError, TypeError, KeyError, ZeroDivisionError...): all of it means "cannot be decoded".
    ``warnings.catch_warnings`` is process-global; the explicit pixel checks are the guard that does not
    depend on it.
    """
    from PIL import Image as PILImage
    from PIL import ImageFile, UnidentifiedImageError

    ImageFile.LOAD_TRUNCATED_IMAGES = False  # never pad a truncated file with grey, whoever switched it on
    try:
        with warnings.catch_warnings():
            # Pillow's UserWarnings are about metadata ("Corrupt EXIF data", "Tag data larger than file",
            # "Invalid APNG, will use default PNG image"): never a reason to reject, even under ``-W error``.
            # Corruption of the pixels comes as an exception ("Truncated File Read", "broken data stream").
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            yield
    except ImageUnusableError:
        raise
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning) as exc:
        raise ImageUnusableError(RejectionReason.DECOMPRESSION_BOMB, f"{kind}: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise ImageUnusableError(RejectionReason.CORRUPT_IMAGE, f"{kind} header cannot be parsed") from exc
    except MemoryError as exc:
        raise ImageUnusableError(
            RejectionReason.TOO_LARGE, f"{kind}: decoding needs more memory than is available"
        ) from exc
    except Exception as exc:
        message = str(exc) or type(exc).__name__
        if not isinstance(exc, (OSError, SyntaxError, ValueError, EOFError)):
            message = f"{type(exc).__name__}: {message}"
        raise ImageUnusableError(_classify_decode_error(exc), f"{kind}: {message}"[:500]) from exc


def _check_png_crcs(data: bytes) -> None:
    """Critical PNG chunks (IHDR, PLTE, IDAT, IEND) must have a correct CRC, as libpng requires by default.

    Pillow checks the CRCs of the chunks before the image data but not of IDAT, so a flipped bit in the pixel
    data would otherwise pass unnoticed. Ancillary chunks (text, EXIF, colour profile...) are not checked: a bad
    one costs metadata, not the photo. A chunk cut short is left to the decoder, which reports truncation.
    """
    view = memoryview(data)
    pos, end = 8, len(data)
    while pos + 12 <= end:
        length, kind = struct.unpack_from(">I4s", data, pos)
        stop = pos + 12 + length
        if stop > end:
            return
        if not kind[0] & 0x20:  # bit 5 of the first letter clear (upper case): a critical chunk
            (expected,) = struct.unpack_from(">I", data, stop - 4)
            if zlib.crc32(view[pos + 4 : stop - 4]) != expected:
                raise ImageUnusableError(
                    RejectionReason.CORRUPT_IMAGE, f"PNG: bad CRC in {kind.decode('latin-1')!r} chunk at byte {pos}"
                )
        if kind == b"IEND":
            return
        pos = stop


def _check_size(img: Image, kind: str | None, max_pixels: int) -> None:
    if img.width < 1 or img.height < 1:
        raise ImageUnusableError(RejectionReason.CORRUPT_IMAGE, f"{kind} declares an empty size")
    pixels = img.width * img.height
    if pixels > max_pixels:
        raise ImageUnusableError(
            RejectionReason.DECOMPRESSION_BOMB,
            f"{img.width}x{img.height} = {pixels} pixels exceeds the limit of {max_pixels}",
        )


def _open(data: bytes, max_pixels: int) -> Image:
    """Open (header only) with the allowed formats; size checks happen before any pixel is decoded."""
    from PIL import Image as PILImage

    _register_plugins()
    if not data:
        raise ImageUnusableError(RejectionReason.EMPTY_OBJECT, "the object has zero bytes")
    kind = sniff_format(data[:32])
    if kind is None:
        other = sniff_other(data[:64])
        if other is not None:
            raise ImageUnusableError(RejectionReason.UNSUPPORTED_FORMAT, other)
        raise ImageUnusableError(RejectionReason.NOT_AN_IMAGE, "the bytes do not start with any image signature")
    if kind == "PNG":
        _check_png_crcs(data)
    with _guard(kind), warnings.catch_warnings():
        # The declared size is checked against ``max_pixels`` right below: that is the limit that counts here.
        # (Pillow's own warning at 89 Mpx would otherwise override a larger configured limit; its hard error
        # at twice that still applies.)
        warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
        img = PILImage.open(BytesIO(data), formats=list(ALLOWED_FORMATS))
    _check_size(img, kind, max_pixels)
    return img


def _decode(img: Image, draft_size: tuple[int, int] | None, max_pixels: int) -> Image:
    """Decode the first frame fully (so truncation and corruption surface here), optionally DCT-scaled."""
    with _guard(img.format):
        if draft_size is not None and img.format == "JPEG":
            img.draft("RGB", draft_size)
        img.seek(0)
        img.load()
    _check_size(img, img.format, max_pixels)  # a frame may declare a size of its own
    return img


def _exif(img: Image) -> Exif | None:
    """The EXIF block, or None when there is none or it is broken (metadata loss, never a rejection)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Corrupt EXIF data", "Tag data larger than file"...
            exif = img.getexif()
    except Exception:  # noqa: BLE001 - a broken EXIF block is metadata loss, not an unusable image
        return None
    return exif or None


def _parse_exif_datetime(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value.strip("\x00 ").strip(), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        cleaned = value.strip("\x00 ").strip()
        return cleaned[:128] or None
    return None


@dataclass(frozen=True)
class Decoded:
    """The first frame as :func:`inspect_and_decode` decoded it: what ``load_rgb(data, max_pixels=max_pixels,
    draft_size=draft_size)`` decodes before turning it upright and RGB (see :func:`rgb_from`)."""

    image: Image
    draft_size: tuple[int, int]
    max_pixels: int


def inspect_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageMetadata:
    """Fully validate ``data`` as an image and extract its metadata, or raise ImageUnusableError."""
    return _inspect(data, max_pixels, None)[0]


def inspect_and_decode(data: bytes, *, max_pixels: int, draft_size: tuple[int, int]) -> tuple[ImageMetadata, Decoded]:
    """:func:`inspect_image`, decoding the first frame as ``load_rgb(..., draft_size=draft_size)`` would, and
    keeping it: a classifier that would decode the same bytes at that size takes it instead (one decode)."""
    metadata, img = _inspect(data, max_pixels, draft_size)
    return metadata, Decoded(image=img, draft_size=draft_size, max_pixels=max_pixels)


def _inspect(data: bytes, max_pixels: int, draft_size: tuple[int, int] | None) -> tuple[ImageMetadata, Image]:
    img = _open(data, max_pixels)
    fmt = "HEIF" if img.format in ("HEIF", "AVIF") else str(img.format)
    width, height, mode = img.width, img.height, img.mode
    with _guard(fmt):  # counting frames reads every frame header (and Pillow checks each frame's size)
        frames = max(1, int(getattr(img, "n_frames", 1) or 1))
    # Draft to about 1/8 scale unless a size is asked for: the whole entropy-coded stream is parsed at any
    # scale, so truncation is caught. Decode before reading EXIF: for PNG, getexif() decodes the image itself
    # to look for a trailing eXIf chunk, and a decode error swallowed there would leave a half-decoded image
    # that passes.
    _decode(img, draft_size or (max(1, width // 8), max(1, height // 8)), max_pixels)
    exif = _exif(img)
    orientation = exif.get(_EXIF_ORIENTATION, 1) if exif else 1
    taken = None
    if exif:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                taken = _parse_exif_datetime(exif.get_ifd(_EXIF_IFD).get(_EXIF_DATETIME_ORIGINAL))
        except Exception:  # noqa: BLE001 - same as above
            taken = None
        taken = taken or _parse_exif_datetime(exif.get(_EXIF_DATETIME))
    return ImageMetadata(
        format=fmt,
        width=width,
        height=height,
        mode=mode,
        frames=frames,
        orientation=orientation if isinstance(orientation, int) and 1 <= orientation <= 8 else 1,
        taken_at=taken,
        camera_make=_text(exif.get(_EXIF_MAKE)) if exif else None,
        camera_model=_text(exif.get(_EXIF_MODEL)) if exif else None,
    ), img


def _upright(img: Image) -> Image:
    """Apply the EXIF orientation; a broken EXIF block leaves the pixels as stored."""
    from PIL import ImageOps

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ImageOps.exif_transpose(img)
    except Exception:  # noqa: BLE001 - metadata loss, not an unusable image
        return img


def load_rgb(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, draft_size: tuple[int, int] | None = None) -> Image:
    """Decode the first frame as upright 8-bit RGB (EXIF orientation applied, alpha composited on white).

    ``draft_size`` lets JPEG decoding use DCT scaling to the smallest scale that is still at least that big,
    which is several times faster than a full decode followed by a resize.
    """
    return rgb_from(_decode(_open(data, max_pixels), draft_size, max_pixels), draft_size)


def rgb_from(img: Image, draft_size: tuple[int, int] | None) -> Image:
    """The rest of :func:`load_rgb`, on a first frame it (or :func:`inspect_and_decode`) decoded."""
    from PIL import Image as PILImage

    fmt = img.format
    with _guard(fmt):
        if draft_size is not None:
            img = _shrink(img, draft_size)
        img = _upright(img)
        if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (img.mode == "P" and "transparency" in img.info):
            rgba = img.convert("RGBA")
            background = PILImage.new("RGBA", rgba.size, (255, 255, 255, 255))
            return PILImage.alpha_composite(background, rgba).convert("RGB")
        if img.mode.startswith("I;16") or img.mode == "I":
            # 16-bit samples (0..65535) to 8 bits as v // 256: black stays black, white stays white, and the
            # tones keep their place (converting straight to "L" would clip everything above 255 to white).
            img = img.convert("I").point(lambda v: v / 256).convert("L")
        return img.convert("RGB")


_REDUCIBLE_MODES = frozenset({"L", "LA", "RGB", "RGBA", "RGBX", "CMYK", "I", "F"})


def _shrink(img: Image, size: tuple[int, int]) -> Image:
    """Box-reduce a big decoded image by the largest whole factor that keeps it at least ``size``.

    What draft mode does for JPEG, for every other format: each later step (rotation, alpha compositing,
    conversion) then works on a small image, so a 89 MP PNG costs one full-size buffer, not four.
    """
    factor = min(img.width // size[0], img.height // size[1])
    if factor < 2:
        return img
    if img.mode.startswith("I;16"):
        # Pillow cannot box-reduce 16-bit samples ("image has wrong mode"); 32-bit integers it can, and load_rgb
        # takes "I" on to 8 bits the same way.
        img = img.convert("I")
    if img.mode not in _REDUCIBLE_MODES:
        return img
    return img.reduce(factor)


def to_jpeg(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, max_side: int = 4096, quality: int = 90) -> bytes:
    """Re-encode any decodable image as an upright baseline JPEG no larger than ``max_side`` on its long side."""
    img = load_rgb(data, max_pixels=max_pixels, draft_size=(max_side, max_side))
    if max(img.size) > max_side:
        img.thumbnail((max_side, max_side))
    out = BytesIO()
    img.save(out, format="JPEG", quality=quality)
    return out.getvalue()

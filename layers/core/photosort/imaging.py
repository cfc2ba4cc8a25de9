"""Safe image decoding: identify by bytes, refuse bombs, honour EXIF orientation.

Every decode in photosort goes through here. Images are opened with an explicit list of allowed formats,
Pillow's decompression-bomb warning is an error, and truncated files are never silently padded.
"""

from __future__ import annotations

import warnings
from datetime import datetime
from io import BytesIO
from typing import TYPE_CHECKING

from photosort.errors import ImageUnusableError, RejectionReason
from photosort.models import ImageMetadata

if TYPE_CHECKING:
    from PIL.Image import Image

# Formats we decode, as Pillow names them. HEIF comes from pillow-heif (phone photos).
ALLOWED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP", "HEIF")
DEFAULT_MAX_PIXELS = 89_478_485  # Pillow's own MAX_IMAGE_PIXELS: about 1 GB of 24-bit RGB

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


_plugins_registered = False


def _register_plugins() -> None:
    global _plugins_registered  # noqa: PLW0603 - one-time plugin registration, not per call
    if not _plugins_registered:
        try:
            from pillow_heif import register_heif_opener
        except ImportError:  # pragma: no cover - pillow-heif is in the imaging layer and the venv
            pass
        else:
            register_heif_opener()
        _plugins_registered = True


def _open(data: bytes, max_pixels: int) -> Image:
    """Open (header only) with the allowed formats; size checks happen before any pixel is decoded."""
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    _register_plugins()
    if not data:
        raise ImageUnusableError(RejectionReason.EMPTY_OBJECT, "the object has zero bytes")
    kind = sniff_format(data[:32])
    if kind is None:
        raise ImageUnusableError(RejectionReason.NOT_AN_IMAGE, "the bytes do not start with any image signature")
    try:
        img = PILImage.open(BytesIO(data), formats=list(ALLOWED_FORMATS))
    except PILImage.DecompressionBombError as exc:
        raise ImageUnusableError(RejectionReason.DECOMPRESSION_BOMB, str(exc)) from exc
    except UnidentifiedImageError as exc:
        raise ImageUnusableError(RejectionReason.CORRUPT_IMAGE, f"{kind} header cannot be parsed") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageUnusableError(_classify_decode_error(exc), f"{kind}: {exc}") from exc
    pixels = img.width * img.height
    if pixels > max_pixels:
        raise ImageUnusableError(
            RejectionReason.DECOMPRESSION_BOMB,
            f"{img.width}x{img.height} = {pixels} pixels exceeds the limit of {max_pixels}",
        )
    if img.width < 1 or img.height < 1:
        raise ImageUnusableError(RejectionReason.CORRUPT_IMAGE, f"{kind} declares an empty size")
    return img


def _classify_decode_error(exc: BaseException) -> RejectionReason:
    text = str(exc).lower()
    if "truncated" in text or isinstance(exc, EOFError) or "end of file" in text or "premature" in text:
        return RejectionReason.TRUNCATED_IMAGE
    return RejectionReason.CORRUPT_IMAGE


def _decode(img: Image, draft_size: tuple[int, int] | None) -> Image:
    """Decode the first frame fully (so truncation and corruption surface here), optionally DCT-scaled."""
    from PIL import Image as PILImage

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            if draft_size is not None and img.format == "JPEG":
                img.draft("RGB", draft_size)
            img.seek(0)
            img.load()
    except PILImage.DecompressionBombError as exc:
        raise ImageUnusableError(RejectionReason.DECOMPRESSION_BOMB, str(exc)) from exc
    except PILImage.DecompressionBombWarning as exc:
        raise ImageUnusableError(RejectionReason.DECOMPRESSION_BOMB, str(exc)) from exc
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, MemoryError) as exc:
        raise ImageUnusableError(_classify_decode_error(exc), f"{img.format}: {exc}") from exc
    return img


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


def inspect_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageMetadata:
    """Fully validate ``data`` as an image and extract its metadata, or raise ImageUnusableError."""
    img = _open(data, max_pixels)
    fmt = "HEIF" if img.format in ("HEIF", "AVIF") else str(img.format)
    width, height, mode = img.width, img.height, img.mode
    frames = int(getattr(img, "n_frames", 1) or 1)
    try:
        exif = img.getexif()
    except Exception:  # noqa: BLE001 - a broken EXIF block is metadata loss, not an unusable image
        exif = {}
    # Draft to about 1/8 scale: the whole entropy-coded stream is still parsed, so truncation is caught.
    _decode(img, (max(1, width // 8), max(1, height // 8)))
    orientation = exif.get(_EXIF_ORIENTATION, 1) if exif else 1
    taken = None
    if exif:
        try:
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
    )


def load_rgb(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, draft_size: tuple[int, int] | None = None) -> Image:
    """Decode the first frame as upright 8-bit RGB (EXIF orientation applied, alpha composited on white).

    ``draft_size`` lets JPEG decoding use DCT scaling to the smallest scale that is still at least that big,
    which is several times faster than a full decode followed by a resize.
    """
    from PIL import Image as PILImage
    from PIL import ImageOps

    img = _decode(_open(data, max_pixels), draft_size)
    img = ImageOps.exif_transpose(img)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = PILImage.new("RGBA", rgba.size, (255, 255, 255, 255))
        return PILImage.alpha_composite(background, rgba).convert("RGB")
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale: scale to 8 bits instead of clipping everything to white.
        import numpy as np

        arr = np.asarray(img, dtype=np.float32)
        peak = float(arr.max()) or 1.0
        img = PILImage.fromarray((arr * (255.0 / max(peak, 255.0))).clip(0, 255).astype("uint8"), "L")
    return img.convert("RGB")


def to_jpeg(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, max_side: int = 4096, quality: int = 90) -> bytes:
    """Re-encode any decodable image as an upright baseline JPEG no larger than ``max_side`` on its long side."""
    img = load_rgb(data, max_pixels=max_pixels, draft_size=(max_side, max_side))
    if max(img.size) > max_side:
        img.thumbnail((max_side, max_side))
    out = BytesIO()
    img.save(out, format="JPEG", quality=quality)
    return out.getvalue()

"""Generators of bad, odd and ordinary images for the reliability tests (and the load test).

Every generator returns ``bytes`` and is deterministic for a given ``seed``; different seeds give different
bytes (so two uploads never collide as duplicates unless you want them to). Nothing here reads a file.

>>> from tests.reliability import images
>>> images.png_bomb(seed=3)[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
True

``BAD`` maps a case name to ``(generator, expected rejection reason)``; ``ODD`` maps a case name to a generator
of images that must be classified after conversion (never rejected). Both take ``seed`` only.
"""

from __future__ import annotations

import io
import random
import struct
import zlib
from collections.abc import Callable

from PIL import Image

STACK_MAX_IMAGE_BYTES = 3 * 1024 * 1024
"""The reliability stack rejects uploads above this (``MaxImageBytes``), so a TooLarge upload stays cheap;
every generator here makes far smaller images."""

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EXIF_ORIENTATION = 0x0112


# --------------------------------------------------------------------------------------------- ordinary images
def picture(seed: int = 0, size: tuple[int, int] = (96, 64), mode: str = "RGB") -> Image.Image:
    """A small deterministic "photo": a seeded gradient with a few seeded rectangles, in ``mode``."""
    rng = random.Random(seed)
    width, height = size
    base = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
    img = Image.new("RGB", size, base)
    gradient = Image.linear_gradient("L").resize(size)
    img = Image.composite(img, Image.new("RGB", size, tuple(255 - c for c in base)), gradient)
    for _ in range(4):
        x0, y0 = rng.randrange(width), rng.randrange(height)
        box = (x0, y0, min(width, x0 + rng.randrange(4, 40)), min(height, y0 + rng.randrange(4, 40)))
        img.paste((rng.randrange(256), rng.randrange(256), rng.randrange(256)), box)
    return img if mode == "RGB" else img.convert(mode)


def _save(img: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    img.save(out, format=fmt, **options)
    return out.getvalue()


def jpeg(
    seed: int = 0, size: tuple[int, int] = (96, 64), *, orientation: int | None = None, quality: int = 85
) -> bytes:
    img = picture(seed, size)
    if orientation is None:
        return _save(img, "JPEG", quality=quality)
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = orientation
    return _save(img, "JPEG", quality=quality, exif=exif.tobytes())


def png(seed: int = 0, size: tuple[int, int] = (96, 64), mode: str = "RGB") -> bytes:
    return _save(picture(seed, size, mode), "PNG")


def noise_png(seed: int = 0, min_bytes: int = 1024) -> bytes:
    """A valid PNG of random pixels, at least ``min_bytes`` long (noise does not compress)."""
    side = max(8, int((min_bytes / 3) ** 0.5) + 8)
    rng = random.Random(seed)
    img = Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3))
    data = _save(img, "PNG", compress_level=1)
    assert len(data) >= min_bytes
    return data


def cmyk_jpeg(seed: int = 0) -> bytes:
    return _save(picture(seed).convert("CMYK"), "JPEG", quality=90)


def png16(seed: int = 0, size: tuple[int, int] = (96, 64)) -> bytes:
    """16-bit greyscale PNG spanning the full 0..65535 range (a linear ramp, seeded offset)."""
    width, height = size
    offset = random.Random(seed).randrange(256)
    img = Image.new("I;16", size)
    img.putdata(
        [min(65535, (x * 65535) // (width - 1) + offset * (y % 2)) for y in range(height) for x in range(width)]
    )
    return _save(img, "PNG")


def png_rgba(seed: int = 0) -> bytes:
    img = picture(seed).convert("RGBA")
    img.putalpha(Image.linear_gradient("L").resize(img.size))
    return _save(img, "PNG")


def png_palette(seed: int = 0) -> bytes:
    return _save(picture(seed).convert("P", palette=Image.Palette.ADAPTIVE, colors=16), "PNG", transparency=0)


def greyscale_jpeg(seed: int = 0) -> bytes:
    return _save(picture(seed, mode="L"), "JPEG", quality=85)


def greyscale_png(seed: int = 0) -> bytes:
    return png(seed, mode="LA")


def animated_gif(seed: int = 0, frames: int = 3) -> bytes:
    images = [picture(seed * 1000 + i).convert("P", palette=Image.Palette.ADAPTIVE) for i in range(frames)]
    return _save(images[0], "GIF", save_all=True, append_images=images[1:], duration=100, loop=0)


def webp(seed: int = 0) -> bytes:
    return _save(picture(seed), "WEBP", quality=80)


def tiff(seed: int = 0) -> bytes:
    return _save(picture(seed), "TIFF")


def heic(seed: int = 0, size: tuple[int, int] = (96, 64)) -> bytes:
    """An HEIC like a phone writes (HEVC in an ISO-BMFF ``ftypheic`` container), via pillow-heif."""
    from pillow_heif import register_heif_opener

    register_heif_opener()
    return _save(picture(seed, size), "HEIF", quality=80)


def jpeg_corrupt_exif(seed: int = 0) -> bytes:
    """A good JPEG whose EXIF (APP1) block is garbage: metadata is lost, the photo is fine."""
    good = jpeg(seed)
    rng = random.Random(seed)
    junk = b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x20" + rng.randbytes(24)  # 32 entries promised, 24 bytes given
    app1 = b"\xff\xe1" + struct.pack(">H", len(junk) + 2) + junk
    return good[:2] + app1 + good[2:]


# ------------------------------------------------------------------------------------------------ bad inputs
def zero_byte(seed: int = 0) -> bytes:
    return b""


def text_as_jpg(seed: int = 0) -> bytes:
    return f"Dear diary, day {seed}: this is a text file someone named holiday.jpg\n".encode()


def pdf(seed: int = 0) -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
        + f"% seed {seed}\n".encode()
        + b"trailer << /Root 1 0 R >>\n%%EOF\n"
    )


def truncated_jpeg(seed: int = 0, fraction: float = 0.5) -> bytes:
    """A real JPEG cut off part way through its entropy-coded data (an interrupted upload)."""
    data = jpeg(seed, size=(160, 120))
    return data[: max(700, int(len(data) * fraction))]


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    chunks, pos = [], len(PNG_SIGNATURE)
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        chunks.append((data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return chunks


def png_chunk(kind: bytes, body: bytes, *, crc: int | None = None) -> bytes:
    crc = zlib.crc32(kind + body) if crc is None else crc
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc & 0xFFFFFFFF)


def png_bad_crc(seed: int = 0) -> bytes:
    """A PNG whose IDAT chunk has a wrong CRC (the pixel data may or may not be intact)."""
    out = PNG_SIGNATURE
    for kind, body in _png_chunks(png(seed)):
        out += png_chunk(kind, body, crc=(zlib.crc32(kind + body) ^ 0x5A5A5A5A) if kind == b"IDAT" else None)
    return out


def png_garbage_idat(seed: int = 0) -> bytes:
    """A PNG whose IDAT holds random bytes with a *correct* CRC: only decoding can tell."""
    rng = random.Random(seed)
    out = PNG_SIGNATURE
    for kind, body in _png_chunks(png(seed)):
        out += png_chunk(kind, rng.randbytes(len(body)) if kind == b"IDAT" else body)
    return out


def png_bomb(seed: int = 0, width: int = 100_000, height: int = 100_000) -> bytes:
    """A ~100-byte PNG declaring ``width`` x ``height`` 8-bit grey pixels (10 gigapixels by default)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 4096, 9)  # a few all-zero rows; the rest would be "more of the same"
    return (
        PNG_SIGNATURE
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"tEXt", b"Comment\x00" + str(seed).encode())
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def gif_bomb(seed: int = 0, width: int = 65_535, height: int = 65_535, *, in_frame: bool = False) -> bytes:
    """A ~50-byte GIF declaring ``width`` x ``height`` pixels (4.3 gigapixels by default).

    ``in_frame=False`` puts the size in the logical screen; ``in_frame=True`` declares a 1x1 screen and puts
    the size in the first frame's image descriptor instead.
    """
    screen = (1, 1) if in_frame else (width, height)
    frame = (width, height) if in_frame else (1, 1)
    comment = str(seed).encode()
    return (
        b"GIF89a"
        + struct.pack("<HHBBB", *screen, 0x80, 0, 0)  # global colour table of 2 entries
        + b"\x00\x00\x00\xff\xff\xff"
        + b"\x21\xfe"
        + bytes([len(comment)])
        + comment
        + b"\x00"  # comment extension: makes seeds differ
        + b"\x2c"
        + struct.pack("<HHHHB", 0, 0, *frame, 0)
        + b"\x02\x02\x44\x01\x00"  # LZW min code size 2: CLEAR, 0, END
        + b"\x3b"
    )


def gif_bomb_later_frame(seed: int = 0, width: int = 60_000, height: int = 60_000) -> bytes:
    """A ~60-byte animated GIF: a 100x100 screen, a 1x1 first frame, then a frame declaring ``width`` x ``height``.

    Only the first frame is ever decoded (classification uses it), so this one is inspected, not rejected.
    """
    comment = str(seed).encode()
    frame = b"\x02\x02\x44\x01\x00"  # LZW min code size 2: CLEAR, 0, END
    return (
        b"GIF89a"
        + struct.pack("<HHBBB", 100, 100, 0x80, 0, 0)
        + b"\x00\x00\x00\xff\xff\xff"
        + b"\x21\xfe"
        + bytes([len(comment)])
        + comment
        + b"\x00"
        + b"\x2c"
        + struct.pack("<HHHHB", 0, 0, 1, 1, 0)
        + frame
        + b"\x2c"
        + struct.pack("<HHHHB", 0, 0, width, height, 0)
        + frame
        + b"\x3b"
    )


def avif(seed: int = 0) -> bytes:
    """AVIF (AV1 in an ``ftypavif`` container), through Pillow's own plugin."""
    return _save(picture(seed), "AVIF", quality=70)


# ----------------------------------------------------------------------------------------------------- keys
def long_key(seed: int = 0, total_bytes: int = 900, prefix: str = "incoming/") -> str:
    """A key of exactly ``total_bytes`` UTF-8 bytes: a long multi-byte file name in a few folders."""
    rng = random.Random(seed)
    head = f"{prefix}long-{seed}/{rng.randrange(10**6):06d}/"
    name_bytes = total_bytes - len(head.encode()) - len(".png")
    stem = ("é" * (name_bytes // 2)) + ("x" * (name_bytes % 2))
    key = f"{head}{stem}.png"
    assert len(key.encode()) == total_bytes
    return key


def deep_key(seed: int = 0, levels: int = 20, prefix: str = "incoming/") -> str:
    folders = "/".join(f"level{i:02d}-{seed}" for i in range(levels))
    return f"{prefix}{folders}/deep photo.png"


ODD_KEY_NAMES: tuple[str, ...] = (
    "with spaces/IMG 0001.png",
    "plus+sign/a+b=c.png",
    "percent/100% sure %20 %2B.png",
    "unicode/café 日本 😀.png",
)


# ------------------------------------------------------------------------------------------------ catalogues
Generator = Callable[..., bytes]

BAD: dict[str, tuple[Generator, str]] = {
    "zero-byte": (zero_byte, "EmptyObject"),
    "text-as-jpg": (text_as_jpg, "NotAnImage"),
    "pdf-as-jpg": (pdf, "NotAnImage"),
    "truncated-jpeg": (truncated_jpeg, "TruncatedImage"),
    "png-bad-crc": (png_bad_crc, "CorruptImage"),
    "png-garbage-idat": (png_garbage_idat, "CorruptImage"),
    "png-bomb": (png_bomb, "DecompressionBomb"),
    "gif-bomb": (gif_bomb, "DecompressionBomb"),
    "gif-bomb-in-frame": (lambda seed=0: gif_bomb(seed, in_frame=True), "DecompressionBomb"),
}

ODD: dict[str, Generator] = {
    "animated-gif": animated_gif,
    "cmyk-jpeg": cmyk_jpeg,
    "png16": png16,
    "png-rgba": png_rgba,
    "png-palette": png_palette,
    "greyscale-jpeg": greyscale_jpeg,
    "greyscale-png": greyscale_png,
    "heic": heic,
    "avif": avif,
    "webp": webp,
    "tiff": tiff,
    "jpeg-corrupt-exif": jpeg_corrupt_exif,
    "jpeg-rotated": lambda seed=0: jpeg(seed, orientation=6),
}

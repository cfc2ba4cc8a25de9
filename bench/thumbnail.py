"""Benchmark: making a thumbnail of a 12-megapixel photo, as the albums API does on a photo's first view (the
same JPEG as ``bench preprocess``).

* shipped (``photosort.thumbnails.make_thumbnail``: ``imaging.load_rgb`` with a 320 px draft, so the JPEG is
  DCT-scaled while it is decoded, then LANCZOS to 320 px and WebP q78) vs a naive full decode + EXIF transpose +
  thumbnail + the same WebP encode. Target: >= 3x faster.
* the same for a 12 MP PNG (no DCT scaling: full decode, then box-reduce), reported for the cost model.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any

from bench import Result, compare, report
from bench.preprocess import twelve_mp_jpeg

NAME = "thumbnail"


def naive_thumbnail(data: bytes) -> bytes:
    from PIL import Image, ImageOps

    with Image.open(BytesIO(data)) as opened:
        img = ImageOps.exif_transpose(opened).convert("RGB")
    img.thumbnail((320, 320), Image.Resampling.LANCZOS)
    out = BytesIO()
    img.save(out, format="WEBP", quality=78, method=4)
    return out.getvalue()


def _png(jpeg: bytes) -> bytes:
    from PIL import Image

    out = BytesIO()
    with Image.open(BytesIO(jpeg)) as img:
        img.save(out, format="PNG")
    return out.getvalue()


def run() -> tuple[list[Result], dict[str, Any]]:
    from photosort.thumbnails import make_thumbnail

    results: list[Result] = []
    jpeg = twelve_mp_jpeg()
    made = make_thumbnail(jpeg)
    t = compare(
        {"shipped": lambda: make_thumbnail(jpeg), "naive": lambda: naive_thumbnail(jpeg)}, rounds=3, block_s=1.0
    )
    ratio = t["naive"].median_ms / t["shipped"].median_ms
    report(
        results,
        Result(
            name="thumbnail: 12 MP JPEG -> 320 px WebP, shipped (draft decode) vs naive full decode",
            figure=t["shipped"].median_ms,
            unit="ms/image",
            target=">= 3x faster than naive",
            ratio=ratio,
            ratio_label=f"naive {t['naive'].median_ms:.1f} ms / shipped {t['shipped'].median_ms:.1f} ms; "
            f"{len(made)} bytes",
            passed=ratio >= 3.0,
            details={"shipped": t["shipped"].as_dict(), "naive": t["naive"].as_dict(), "webp_bytes": len(made)},
        ),
    )
    png = _png(jpeg)
    t2 = compare({"png": lambda: make_thumbnail(png)}, rounds=3, block_s=1.0)
    report(
        results,
        Result(
            name="thumbnail: 12 MP PNG -> 320 px WebP (full decode, box-reduce)",
            figure=t2["png"].median_ms,
            unit="ms/image",
            target="reported (sizes the albums API function's 1024 MB)",
            details={"png": t2["png"].as_dict(), "png_bytes": len(png)},
        ),
    )
    return results, {"jpeg_bytes": len(jpeg), "png_bytes": len(png)}

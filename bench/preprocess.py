"""Benchmark 2: decode + preprocess of a 12-megapixel JPEG, and the whole local classify of it.

The JPEG is made once from a sample photo (china.jpg upscaled to 4000x3000, quality 92) in a temp dir.
* shipped path (``photosort.backends.local.preprocess``: ``imaging.load_rgb`` with JPEG draft/DCT scaling, then
  ``to_tensor``) vs a naive full decode + bicubic resize + crop + normalise. Target: >= 5x faster.
* whole local classify of that JPEG (decode + preprocess + inference + labels) vs inference alone. Target: < 3x.
"""

from __future__ import annotations

import tempfile
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np

from bench import Result, compare, report

NAME = "preprocess"
SIZE = (4000, 3000)
QUALITY = 92
CACHE = Path(tempfile.gettempdir()) / "photosort-bench" / f"china_{SIZE[0]}x{SIZE[1]}_q{QUALITY}.jpg"


def twelve_mp_jpeg() -> bytes:
    if not CACHE.is_file():
        from PIL import Image

        from photosort_local.samples import find_sample

        CACHE.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(find_sample("china")) as img:
            big = img.convert("RGB").resize(SIZE, Image.Resampling.BICUBIC)
        big.save(CACHE, format="JPEG", quality=QUALITY)
    return CACHE.read_bytes()


def naive_preprocess(data: bytes) -> np.ndarray:
    """Full decode at 12 MP, then resize shorter side 256 (bicubic), centre crop 224, (x-127)/128."""
    from PIL import Image, ImageOps

    with Image.open(BytesIO(data)) as opened:
        img = ImageOps.exif_transpose(opened).convert("RGB")
    w, h = img.size
    scale = 256 / min(w, h)
    img = img.resize((max(224, round(w * scale)), max(224, round(h * scale))), Image.Resampling.BICUBIC)
    w, h = img.size
    left, top = (w - 224) // 2, (h - 224) // 2
    img = img.crop((left, top, left + 224, top + 224))
    arr = (np.asarray(img, dtype=np.float32) - 127.0) / 128.0
    return np.ascontiguousarray(arr.transpose(2, 0, 1)[None])


def run() -> tuple[list[Result], dict[str, Any]]:
    from photosort.backends import local

    results: list[Result] = []
    data = twelve_mp_jpeg()
    classifier = local.LocalClassifier(variant="fp32")
    tensor = local.preprocess(data)
    naive = naive_preprocess(data)
    # The draft decode is DCT-scaled (1/8 here), so pixels differ slightly from the full decode: report how much.
    pixel_diff = float(np.abs(tensor - naive).mean() * 128.0)
    same_top1 = classifier.classify_tensor(tensor).labels[0].name == classifier.classify_tensor(naive).labels[0].name

    t = compare(
        {
            "shipped": lambda: local.preprocess(data),
            "naive": lambda: naive_preprocess(data),
        },
        rounds=3,
        block_s=1.0,
    )
    ratio = t["naive"].median_ms / t["shipped"].median_ms
    report(
        results,
        Result(
            name="preprocess: 12 MP JPEG, shipped (draft decode) vs naive full decode + resize",
            figure=t["shipped"].median_ms,
            unit="ms/image",
            target=">= 5x faster than naive",
            ratio=ratio,
            ratio_label=f"naive {t['naive'].median_ms:.1f} ms / shipped {t['shipped'].median_ms:.1f} ms; "
            f"mean |pixel diff| {pixel_diff:.2f}/255, same top-1: {same_top1}",
            passed=ratio >= 5.0,
            details={
                "shipped": t["shipped"].as_dict(),
                "naive": t["naive"].as_dict(),
                "bytes": len(data),
                "mean_abs_pixel_diff": pixel_diff,
                "same_top1": same_top1,
            },
        ),
    )

    session = local.get_session("fp32")
    t2 = compare(
        {
            "classify": lambda: classifier.classify_bytes(data),
            "inference": lambda: session.run(None, {"input": tensor}),
        },
        rounds=3,
        block_s=1.0,
    )
    ratio2 = t2["classify"].median_ms / t2["inference"].median_ms
    report(
        results,
        Result(
            name="preprocess: whole local classify of the 12 MP JPEG vs inference alone",
            figure=t2["classify"].median_ms,
            unit="ms/image",
            target="< 3x inference alone",
            ratio=ratio2,
            ratio_label=f"classify {t2['classify'].median_ms:.1f} ms / inference {t2['inference'].median_ms:.1f} ms",
            passed=ratio2 < 3.0,
            details={"classify": t2["classify"].as_dict(), "inference": t2["inference"].as_dict()},
        ),
    )
    return results, {"jpeg": str(CACHE), "jpeg_bytes": len(data), "size": list(SIZE), "quality": QUALITY}

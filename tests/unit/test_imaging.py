"""load_rgb shrinks big images early, for every format, without going below the size asked for."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from photosort.imaging import load_rgb


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "P"])
def test_big_images_are_reduced_but_never_below_the_draft_size(mode: str) -> None:
    buf = io.BytesIO()
    Image.new(mode, (4000, 2600), 90).save(buf, format="PNG")

    img = load_rgb(buf.getvalue(), draft_size=(256, 256))

    assert img.mode == "RGB"
    assert min(img.size) >= 256
    if mode != "P":  # palette images are converted at full size (Pillow cannot box-reduce them)
        assert img.size == (4000 // 10, 2600 // 10)


def test_without_a_draft_size_the_full_image_comes_back() -> None:
    buf = io.BytesIO()
    Image.new("RGBA", (1200, 900), (1, 2, 3, 4)).save(buf, format="PNG")
    assert load_rgb(buf.getvalue()).size == (1200, 900)

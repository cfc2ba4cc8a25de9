"""The contact sheet shows each photo's thumbnail under its destination, and says why for rejected ones."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from photosort_local.picture import PAD, THUMB, contact_sheet
from photosort_local.report import Outcome
from photosort_local.samples import find_sample


def test_contact_sheet_groups_photos_and_draws_rejections(tmp_path: Path) -> None:
    cat = find_sample("chelsea").read_bytes()
    outcomes = [
        Outcome(
            "a.png",
            "incoming/a.png",
            "sorted",
            "albums/pets/a.png",
            "matched",
            [{"name": "Cat", "confidence": 91.0}],
            ["pets"],
        ),
        Outcome(
            "b.png",
            "incoming/b.png",
            "sorted",
            "albums/pets/b.png",
            "matched",
            [{"name": "Cat", "confidence": 80.0}],
            ["pets"],
        ),
        Outcome("c.jpg", "incoming/c.jpg", "rejected", "rejected/c.jpg", "NotAnImage: no signature"),
    ]
    store = {"albums/pets/a.png": cat, "albums/pets/b.png": cat, "rejected/c.jpg": b"text"}

    path = contact_sheet(outcomes, store.get, tmp_path / "sheet.png", "test")

    sheet = Image.open(path).convert("RGB")
    assert sheet.width >= 2 * (THUMB + PAD)
    # the first tile under the first group header holds the cat: not a flat colour
    tile = sheet.crop((PAD, 34 + PAD + 34, PAD + THUMB, 34 + PAD + 34 + THUMB))
    assert len(set(tile.getdata())) > 1000
    assert sheet.height > 2 * (THUMB + 34)  # two groups: albums/pets and rejected/

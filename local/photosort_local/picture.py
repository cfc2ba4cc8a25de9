"""A contact sheet: one PNG showing every photo as a thumbnail under the album (or status) it ended in,
with its top label. For users who would rather look than read."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from photosort.errors import ImageUnusableError
from photosort.imaging import load_rgb
from photosort_local.report import Outcome

THUMB = 180
PAD = 12
CAPTION = 36
HEADER = 34
COLUMNS = 6
STATUS_COLOURS = {
    "sorted": "#2e7d32",
    "unsorted": "#6d6d6d",
    "rejected": "#c62828",
    "failed": "#ad1457",
    "duplicate": "#1565c0",
}


def _group(outcome: Outcome) -> str:
    return f"albums/{outcome.albums[0]}" if outcome.albums else f"{outcome.status}/"


def _thumbnail(data: bytes | None, colour: str, font: Any, reason: str) -> Image.Image:
    tile = Image.new("RGB", (THUMB, THUMB), "#f3f3f3")
    img = None
    if data is not None:
        try:
            img = load_rgb(data, draft_size=(THUMB, THUMB))
        except ImageUnusableError:
            img = None
    if img is None:  # rejected input, or the object could not be read: show why instead
        draw = ImageDraw.Draw(tile)
        draw.rectangle((0, 0, THUMB - 1, THUMB - 1), outline=colour, width=3)
        draw.multiline_text((10, THUMB // 2 - 20), _wrap(reason, 22, 3), fill=colour, font=font)
        return tile
    img.thumbnail((THUMB, THUMB))
    tile.paste(img, ((THUMB - img.width) // 2, (THUMB - img.height) // 2))
    return tile


def _wrap(text: str, width: int, lines: int) -> str:
    words, rows, row = text.split(), [], ""
    for word in words:
        if len(row) + len(word) + 1 > width and row:
            rows.append(row)
            row = ""
        row = f"{row} {word}".strip()
    rows.append(row)
    return "\n".join(rows[:lines])


def contact_sheet(outcomes: Sequence[Outcome], read: Any, path: Path, title: str) -> Path:
    """Render ``outcomes`` grouped by destination; ``read(key) -> bytes | None`` fetches a sorted object."""
    font = ImageFont.load_default(size=13)
    bold = ImageFont.load_default(size=17)
    groups: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        groups.setdefault(_group(outcome), []).append(outcome)
    columns = min(COLUMNS, max((len(items) for items in groups.values()), default=1))
    rows = sum((len(items) + columns - 1) // columns for items in groups.values())
    width = max(PAD + columns * (THUMB + PAD), 520)
    height = HEADER + PAD + len(groups) * HEADER + rows * (THUMB + CAPTION + PAD)
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    draw.text((PAD, 8), title, fill="black", font=bold)
    y = HEADER + PAD
    for name, items in sorted(groups.items()):
        draw.text((PAD, y + 8), f"{name}  ({len(items)})", fill="black", font=bold)
        y += HEADER
        for index, outcome in enumerate(items):
            col, row = index % columns, index // columns
            x, top = PAD + col * (THUMB + PAD), y + row * (THUMB + CAPTION + PAD)
            colour = STATUS_COLOURS.get(outcome.status, "black")
            data = read(outcome.destination) if outcome.destination else None
            sheet.paste(_thumbnail(data, colour, font, outcome.reason), (x, top))
            best = outcome.labels[0] if outcome.labels else None
            label = f"{best['name']} {best['confidence']:.0f}%" if best else outcome.status
            draw.text((x, top + THUMB + 3), Path(outcome.source).name[:26], fill="black", font=font)
            draw.text((x, top + THUMB + 19), label[:26], fill=colour, font=font)
        y += ((len(items) + columns - 1) // columns) * (THUMB + CAPTION + PAD)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, format="PNG", optimize=True)
    return path


def s3_reader(s3: Any, bucket: str) -> Any:
    """``read(key)`` for :func:`contact_sheet`: the object's bytes, or None if it cannot be read."""

    def read(key: str) -> bytes | None:
        try:
            return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except Exception:  # noqa: BLE001 - a missing thumbnail must not fail the run
            return None

    return read

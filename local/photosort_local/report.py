"""What the ``photosort`` CLI prints: one outcome per photo, album tables, labels; for people or as JSON.

Human output is plain ASCII in aligned columns so it reads the same in any terminal and log file; ``--json``
output is one JSON document (or one JSON line per input) with the same facts and nothing decorative.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import IO, Any

from photosort.models import AlbumSummary, Classification, ImageRecord, Label, Page

TOP_LABELS = 3  # labels shown per photo in the human listing
BAR_WIDTH = 20


@dataclass(frozen=True)
class Outcome:
    """Where one input ended up. ``destination`` is None only when it never reached the bucket."""

    source: str
    key: str
    status: str
    destination: str | None
    reason: str
    labels: list[dict[str, Any]] = field(default_factory=list)
    albums: list[str] = field(default_factory=list)
    duplicate_of: str | None = None

    @classmethod
    def from_record(cls, source: str, record: ImageRecord) -> Outcome:
        return cls(
            source=source,
            key=record.source_key,
            status=record.status.value,
            destination=record.destination_key,
            reason=record.reason,
            labels=label_dicts(record.labels),
            albums=[m.album for m in record.memberships],
            duplicate_of=record.duplicate_of,
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def label_dicts(labels: Iterable[Label]) -> list[dict[str, Any]]:
    """Labels as ``{name, confidence}``, best first (backends usually sort them, but do not promise to)."""
    ranked = sorted(labels, key=lambda label: -label.confidence)
    return [{"name": label.name, "confidence": round(label.confidence, 2)} for label in ranked]


def _short_labels(labels: Sequence[dict[str, Any]]) -> str:
    return ", ".join(f"{label['name']} {label['confidence']:.0f}%" for label in labels[:TOP_LABELS]) or "no labels"


def _width(values: Iterable[str], minimum: int) -> int:
    return max([minimum, *(len(v) for v in values)])


# -- sort runs (demo, local sort) ------------------------------------------------------------------------------
def outcome_detail(o: Outcome, reason_only: Collection[str] = ("rejected", "failed")) -> str:
    """The second line of a photo's listing: its best labels and why, or only why for ``reason_only`` statuses."""
    return o.reason if o.status in reason_only else f"{_short_labels(o.labels)} -- {o.reason}"


def print_outcomes(outcomes: Sequence[Outcome], out: IO[str]) -> None:
    """Two lines per photo: where it went, then its best labels and why."""
    name_w = _width((o.source for o in outcomes), 5)
    print(f"{'PHOTO':<{name_w}}  {'STATUS':<9} WHERE IT WENT", file=out)
    for o in outcomes:
        print(f"{o.source:<{name_w}}  {o.status:<9} {o.destination or '(not uploaded)'}", file=out)
        print(f"{'':<{name_w}}  {'':<9} {outcome_detail(o)}", file=out)


def print_albums(albums: Sequence[AlbumSummary], out: IO[str]) -> None:
    if not albums:
        print("No albums yet.", file=out)
        return
    name_w = _width((a.album for a in albums), 5)
    # one mark per photo while it fits, scaled beyond that
    scale = min(1.0, BAR_WIDTH / max(1, *(a.image_count for a in albums)))
    print(f"{'ALBUM':<{name_w}}  {'KIND':<9} {'PHOTOS':>6}", file=out)
    for a in sorted(albums, key=lambda a: a.album):
        bar = "#" * max(1, round(scale * a.image_count)) if a.image_count else ""
        print(f"{a.album:<{name_w}}  {a.kind.value:<9} {a.image_count:>6}  {bar}", file=out)


def summary(outcomes: Sequence[Outcome]) -> str:
    """``3 sorted, 5 unsorted`` in a fixed status order."""
    order = ("sorted", "unsorted", "duplicate", "rejected", "failed")
    counts = {status: sum(o.status == status for o in outcomes) for status in order}
    return ", ".join(f"{n} {status}" for status, n in counts.items() if n) or "nothing"


def albums_json(albums: Sequence[AlbumSummary]) -> list[dict[str, Any]]:
    return [a.model_dump(mode="json") for a in sorted(albums, key=lambda a: a.album)]


# -- albums / album -------------------------------------------------------------------------------------------
def print_album_page(album: AlbumSummary, page: Page, out: IO[str]) -> None:
    print(f"{album.album} ({album.kind.value}): {album.image_count} photo(s), newest first", file=out)
    label_w = _width((e.label for e in page.items), 5)
    for entry in page.items:
        taken = entry.taken_at[:10]
        print(f"  {taken}  {entry.label:<{label_w}} {entry.confidence:5.1f}%  {entry.destination_key}", file=out)
    if page.next_token:
        print(f"more: --next-token {page.next_token}", file=out)


def album_page_json(album: AlbumSummary, page: Page) -> dict[str, Any]:
    return {
        **album.model_dump(mode="json"),
        "items": [entry.model_dump(mode="json") for entry in page.items],
        "next_token": page.next_token,
    }


# -- classify -------------------------------------------------------------------------------------------------
def print_classification(source: str, classification: Classification, out: IO[str], *, top: int = 5) -> None:
    labels = label_dicts(classification.labels)[:top]
    print(f"{source}  ({classification.backend}, {classification.model_version})", file=out)
    name_w = _width((label["name"] for label in labels), 5)
    for label in labels:
        bar = "#" * round(BAR_WIDTH * label["confidence"] / 100)
        print(f"  {label['name']:<{name_w}} {label['confidence']:5.1f}%  {bar}", file=out)
    if not labels:
        print("  (no labels above the backend's threshold)", file=out)


def classification_json(source: str, classification: Classification) -> dict[str, Any]:
    return {
        "source": source,
        "labels": label_dicts(classification.labels),
        "backend": classification.backend,
        "model_version": classification.model_version,
    }


def print_json(value: Any, out: IO[str]) -> None:
    """One compact JSON document on one line (JSON lines when called per item)."""
    print(json.dumps(value, ensure_ascii=False), file=out)

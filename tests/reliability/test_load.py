"""Load test on the embedded stack: many photos uploaded concurrently, with bad inputs, re-uploaded bytes
and duplicated events mixed in; afterwards every input is accounted for exactly once.

A small run is part of `make test`. The full-size run (1,000 photos) is `make load-test`
(or `PHOTOSORT_LOAD_PHOTOS=5000 make load-test` for a bigger one); it prints the figures README reports.
"""

from __future__ import annotations

import io
import os
import random
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from PIL import Image

from photosort import constants
from photosort.models import Status
from photosort.repository import Repository
from photosort_local.samples import SAMPLES, find_sample
from photosort_local.stack import EmbeddedStack

FORMATS = ("JPEG", "PNG", "WEBP")


@dataclass
class Upload:
    key: str
    data: bytes
    kind: str  # photo | bad | same-bytes


def _photo(rng: random.Random, base: Image.Image, seed: int) -> bytes:
    scale = rng.uniform(0.3, 1.2)
    img = base.resize((max(32, int(base.width * scale)), max(32, int(base.height * scale))))
    img.putpixel((0, 0), (seed % 256, seed // 256 % 256, 3))  # every generated photo has distinct bytes
    fmt = rng.choice(FORMATS)
    out = io.BytesIO()
    img.save(out, format=fmt, **({"quality": rng.randint(70, 95)} if fmt != "PNG" else {}))
    return out.getvalue()


def _bad(rng: random.Random, good: bytes, i: int) -> bytes:
    return rng.choice([b"", f"not a photo {i}".encode(), good[: max(100, len(good) // 3)]])


def make_uploads(count: int, seed: int = 7) -> list[Upload]:
    """``count`` inputs: about 10% bad, 2% the same bytes as an earlier photo under another name."""
    rng = random.Random(seed)
    bases = [Image.open(find_sample(name)).convert("RGB") for name in SAMPLES]
    uploads: list[Upload] = []
    for i in range(count):
        roll = rng.random()
        ext = rng.choice(["jpg", "png", "webp", "JPG"])
        key = f"incoming/load/{i % 17:02d}/photo {i:05d}.{ext}"
        if roll < 0.10:
            uploads.append(Upload(key, _bad(rng, _photo(rng, rng.choice(bases), i), i), "bad"))
        elif roll < 0.12 and any(u.kind == "photo" for u in uploads):
            earlier = rng.choice([u for u in uploads if u.kind == "photo"])
            uploads.append(Upload(key, earlier.data, "same-bytes"))
        else:
            uploads.append(Upload(key, _photo(rng, rng.choice(bases), i), "photo"))
    return uploads


@pytest.fixture(scope="module")
def stack() -> Iterator[EmbeddedStack]:
    with EmbeddedStack(stack_name="load") as running:
        yield running


def run_load(stack: EmbeddedStack, count: int) -> dict[str, float]:
    uploads = make_uploads(count)
    s3 = stack.s3
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda u: s3.put_object(Bucket=stack.bucket, Key=u.key, Body=u.data), uploads))
    # EventBridge delivers at least once: about 5% of the events arrive a second time.
    events = list(stack.executions().values())
    again = random.Random(11).sample(events, k=max(1, len(events) // 20))
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(stack.redeliver, again))
    outcomes = stack.wait_idle(timeout=max(300.0, count * 2.0))
    wall = time.monotonic() - started

    verify(stack, uploads, outcomes)
    records = list(Repository(stack.client("dynamodb"), stack.table).scan_images())
    status = Counter(r.status.value for r in records)
    figures = {
        "inputs": len(uploads),
        "duplicate_events": len(again),
        "executions": len(outcomes),
        **{s.value: status.get(s.value, 0) for s in Status},
        "lost": 0,
        "wall_seconds": round(wall, 1),
        "photos_per_second": round(len(uploads) / wall, 2),
    }
    print("\nload test:", figures)
    return figures


def verify(stack: EmbeddedStack, uploads: list[Upload], outcomes: list) -> None:
    s3 = stack.s3
    repo = Repository(stack.client("dynamodb"), stack.table)
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=stack.bucket)
    every_key = [o["Key"] for page in pages for o in page.get("Contents", [])]
    keys = [k for k in every_key if not k.startswith(constants.THUMBNAILS_PREFIX)]  # photos; thumbnails below
    records = list(repo.scan_images())
    by_source = Counter(r.source_key for r in records)
    thumbs = {k for k in every_key if k.startswith(constants.THUMBNAILS_PREFIX)}
    assert thumbs == set(), "the workflow makes no thumbnail (the albums API makes one on a photo's first view)"

    assert [k for k in keys if k.startswith("incoming/")] == [], "nothing may remain in incoming/"
    assert len(keys) == len(uploads), "every input is in exactly one place"
    assert by_source == Counter(u.key for u in uploads), "every input has exactly one record"
    assert {r.destination_key for r in records} == set(keys), "each record names where its photo is"
    assert all(o.status == "SUCCEEDED" for o in outcomes), [o for o in outcomes if o.status != "SUCCEEDED"][:3]
    bad = {u.key for u in uploads if u.kind == "bad"}
    assert {r.source_key for r in records if r.status is Status.REJECTED} == bad
    members = Counter(m.album for r in records for m in r.memberships)
    assert {a.album: a.image_count for a in repo.list_albums()} == dict(members), "album counts equal members"
    for album, count in members.items():
        listed = []
        token = None
        while True:
            page = repo.list_album(album, limit=200, next_token=token)
            listed += page.items
            token = page.next_token
            if not token:
                break
        assert len(listed) == count
    same = {u.key for u in uploads if u.kind == "same-bytes"}
    assert {r.source_key for r in records if r.status is Status.DUPLICATE} == same


def test_load_small(stack: EmbeddedStack) -> None:
    figures = run_load(stack, 60)
    assert figures["lost"] == 0


@pytest.mark.slow
def test_load_full_size() -> None:
    with EmbeddedStack(stack_name="load-full") as stack:
        figures = run_load(stack, int(os.environ.get("PHOTOSORT_LOAD_PHOTOS", "1000")))
    assert figures["inputs"] >= 1000

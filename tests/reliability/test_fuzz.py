"""Fuzzing the edges that take untrusted input: image bytes and S3 keys.

Bounded so the whole file runs in well under 30 s in `make test`. For a longer campaign:

    PHOTOSORT_FUZZ_EXAMPLES=5000 .venv/bin/python -m pytest -q tests/reliability/test_fuzz.py

(add ``--hypothesis-show-statistics`` to see where the time goes; failures print a reproducible seed).
"""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from photosort import imaging, pipeline, storage
from photosort.errors import ImageUnusableError
from photosort.models import ImageMetadata, ObjectRef, RejectionReason
from photosort.settings import Settings
from tests.reliability import images
from tests.reliability.conftest import BUCKET

EXAMPLES = int(os.environ.get("PHOTOSORT_FUZZ_EXAMPLES", "150"))
# Decoding a mutated header that declares a few million pixels is legitimate work, not a hang; keep each
# example small so the deadline means "stuck", not "busy". The default limit is exercised by test_bad_input.
FUZZ_MAX_PIXELS = 2_000_000
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=5_000,  # ms per example: a hang fails loudly instead of stalling the suite
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=EXAMPLES <= 500,  # the short run in `make test` is reproducible; long campaigns explore
)

SEEDS: dict[str, bytes] = {
    "jpeg": images.jpeg(seed=1, size=(48, 32)),
    "jpeg-exif": images.jpeg(seed=2, size=(32, 48), orientation=6),
    "png": images.png(seed=3, size=(24, 16)),
    "png16": images.png16(seed=4, size=(16, 8)),
    "png-rgba": images.png_rgba(seed=5),
    "png-palette": images.png_palette(seed=6),
    "gif": images.animated_gif(seed=7, frames=2),
    "webp": images.webp(seed=8),
    "tiff": images.tiff(seed=9),
    "cmyk": images.cmyk_jpeg(seed=10),
    "heic": images.heic(seed=11, size=(32, 32)),
    "bmp": images._save(images.picture(12, (16, 8)), "BMP"),
}
SIGNATURES = [b"\xff\xd8\xff", images.PNG_SIGNATURE, b"GIF89a", b"RIFF\x00\x00\x00\x00WEBP", b"II*\x00", b"MM\x00*",
              b"BM", b"\x00\x00\x00\x18ftypheic"]  # fmt: skip


@st.composite
def mutated_images(draw: st.DrawFn) -> bytes:
    """A real small image with a few mutations: flipped bytes, cuts, splices, insertions, overwrites."""
    data = bytearray(SEEDS[draw(st.sampled_from(sorted(SEEDS)))])
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "truncate", "splice", "insert", "overwrite", "header"]))
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[at] ^= draw(st.integers(1, 255))
        elif op == "truncate":
            del data[at:]
        elif op == "splice":  # the header of one image on the body of another
            other = SEEDS[draw(st.sampled_from(sorted(SEEDS)))]
            data = data[:at] + other[draw(st.integers(0, len(other) - 1)) :]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif op == "overwrite":
            chunk = draw(st.binary(min_size=1, max_size=16))
            data[at : at + len(chunk)] = chunk
        else:  # rewrite a byte in the first 64, where sizes, depths and offsets live
            data[min(at, 63)] = draw(st.sampled_from([0x00, 0x01, 0x7F, 0x80, 0xFF]))
    return bytes(data)


untrusted_bytes = st.one_of(
    st.binary(max_size=512),
    st.builds(lambda sig, rest: sig + rest, st.sampled_from(SIGNATURES), st.binary(max_size=512)),
    mutated_images(),
)


# ------------------------------------------------------------------------------ 1. imaging on hostile bytes
@FUZZ
@given(data=untrusted_bytes)
@example(data=b"")
@example(data=images.png_bomb())
@example(data=images.gif_bomb(in_frame=True))
@example(data=images.truncated_jpeg())
def test_inspect_image_returns_metadata_or_a_named_rejection(data: bytes) -> None:
    try:
        meta = imaging.inspect_image(data, max_pixels=FUZZ_MAX_PIXELS)
    except ImageUnusableError as exc:
        assert isinstance(exc.reason, RejectionReason) and exc.detail
        return
    assert isinstance(meta, ImageMetadata)
    assert 1 <= meta.width * meta.height <= FUZZ_MAX_PIXELS and meta.frames >= 1 and 1 <= meta.orientation <= 8


@FUZZ
@given(data=mutated_images())
def test_load_rgb_returns_rgb_or_a_named_rejection(data: bytes) -> None:
    try:
        img = imaging.load_rgb(data, max_pixels=FUZZ_MAX_PIXELS, draft_size=(64, 64))
    except ImageUnusableError:
        return
    assert img.mode == "RGB" and img.width >= 1 and img.height >= 1


# ---------------------------------------------------------------------------------------------------- 2. keys
key_text = st.text(
    alphabet=st.one_of(
        st.sampled_from(list("/+% ~*()&=?#:;,@!$'\"[]{}\\^`|<>")),
        st.characters(exclude_categories=("Cs",)),  # any Unicode an S3 key (UTF-8) can hold
    ),
    min_size=1,
    max_size=120,
)

# How producers encode a key in an event: S3's own notifications (space as "+", "/" kept), moto's
# (quote_plus), a Java URLEncoder-style encoder ("/" escaped too), and photosort's own encoder.
S3_STYLE_ENCODINGS = {
    "s3": lambda key: quote_plus(key, safe="/"),
    "java-urlencoder": lambda key: quote_plus(key, safe="*-._"),
    "percent-space": lambda key: quote(key, safe="/"),
    "photosort": storage.encode_event_key,
}


@FUZZ
@given(key=key_text)
@example(key="My Trip + café/IMG 0001+2 ü%.png")
@example(key="100%25 literal %2B and + plus")
@example(key="a" * 1024)
def test_event_key_round_trips(key: str) -> None:
    encoded = storage.encode_event_key(key)
    assert storage.key_candidates(encoded)[0] == key
    assert encoded.isascii() and " " not in encoded
    for name, encode in S3_STYLE_ENCODINGS.items():
        assert storage.key_candidates(encode(key))[0] == key, name


@FUZZ
@given(key=key_text)
def test_photosorts_encoding_is_what_s3_sends(key: str) -> None:
    """encode_event_key (used by the embedded stack) matches S3's encoding up to characters S3 leaves alone."""
    ours, s3s = storage.encode_event_key(key), quote_plus(key, safe="/")
    assert ours.replace("~", "%7E") == s3s.replace("~", "%7E")


# --------------------------------------------------------------------------------- 3. pipeline.inspect on S3
@FUZZ
@given(data=untrusted_bytes, limit=st.one_of(st.none(), st.integers(1, 1024)))
@example(data=b"", limit=None)
@example(data=images.png_bomb(), limit=None)
def test_pipeline_inspect_never_raises_on_bad_bytes(module_s3: Any, data: bytes, limit: int | None) -> None:
    key = "incoming/fuzz/upload +%ü.jpg"
    etag = module_s3.put_object(Bucket=BUCKET, Key=key, Body=data)["ETag"].strip('"')
    ref = ObjectRef(bucket=BUCKET, key=storage.encode_event_key(key), size=len(data), etag=etag)
    config = Settings(max_image_pixels=FUZZ_MAX_PIXELS, **({"max_image_bytes": limit} if limit else {}))

    inspection = pipeline.inspect(module_s3, ref, datetime.now(UTC), config)

    assert inspection.gone is False and inspection.object.key == key
    assert inspection.sha256 == hashlib.sha256(data).hexdigest()
    if inspection.usable:
        assert inspection.metadata is not None and inspection.rejection is None
    else:
        assert inspection.metadata is None and inspection.rejection is not None
        assert isinstance(inspection.rejection.reason, RejectionReason)
        if limit is not None and len(data) > limit:
            assert inspection.rejection.reason is RejectionReason.TOO_LARGE


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_fuzz_seeds_are_good_images(name: str) -> None:
    """The mutations start from images that are themselves accepted (else the fuzzing proves little)."""
    assert imaging.inspect_image(SEEDS[name]).width >= 1

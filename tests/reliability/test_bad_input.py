"""Bad and odd input: every bad upload gets a named reason and ends in rejected/; every odd but real photo is
converted and classified. Never a crash, never a lost object.

Two levels: fast unit tests of photosort.imaging and pipeline.inspect (moto S3) for every case, then the real
workflow (template.yaml in moto, real ASL, real handlers) for a representative set. The workflow tests are
last in this file: once the module's embedded stack is up, no other moto mock is started.
"""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime
from typing import Any

import pytest
from PIL import Image

from photosort import constants, imaging, pipeline, routing, storage
from photosort.errors import ImageUnusableError
from photosort.models import ObjectRef, RejectionReason, Status
from photosort.settings import Settings
from tests.reliability import images
from tests.reliability.conftest import BUCKET, STACK_MAX_IMAGE_BYTES
from tests.workflow.conftest import Harness

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
MAX_KEY_BYTES = 1024  # S3's limit on a key, in UTF-8 bytes

EXPECTED_SNIFF = {
    "zero-byte": None,
    "text-as-jpg": None,
    "pdf-as-jpg": None,
    "truncated-jpeg": "JPEG",
    "png-bad-crc": "PNG",
    "png-garbage-idat": "PNG",
    "png-bomb": "PNG",
    "gif-bomb": "GIF",
    "gif-bomb-in-frame": "GIF",
}
# name -> (format, mode as opened, frames)
EXPECTED_ODD = {
    "animated-gif": ("GIF", "P", 3),
    "cmyk-jpeg": ("JPEG", "CMYK", 1),
    "png16": ("PNG", "I;16", 1),
    "png-rgba": ("PNG", "RGBA", 1),
    "png-palette": ("PNG", "P", 1),
    "greyscale-jpeg": ("JPEG", "L", 1),
    "greyscale-png": ("PNG", "LA", 1),
    "heic": ("HEIF", "RGB", 1),
    "avif": ("HEIF", "RGB", 1),
    "webp": ("WEBP", "RGB", 1),
    "tiff": ("TIFF", "RGB", 1),
    "jpeg-corrupt-exif": ("JPEG", "RGB", 1),
    "jpeg-rotated": ("JPEG", "RGB", 1),
}


def sha8(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:8]


def put(s3: Any, key: str, data: bytes) -> ObjectRef:
    """Upload and return the ObjectRef an S3 event would carry (URL-encoded key, size, ETag)."""
    etag = s3.put_object(Bucket=BUCKET, Key=key, Body=data)["ETag"].strip('"')
    return ObjectRef(bucket=BUCKET, key=storage.encode_event_key(key), size=len(data), etag=etag)


def inspect(s3: Any, key: str, data: bytes, **settings: Any) -> Any:
    return pipeline.inspect(s3, put(s3, key, data), NOW, Settings(**settings))


# ================================================================================== unit: bad input is rejected
def test_catalogues_cover_every_case() -> None:
    assert set(images.BAD) == set(EXPECTED_SNIFF)
    assert set(images.ODD) == set(EXPECTED_ODD)


@pytest.mark.parametrize("name", list(images.BAD))
def test_generators_are_deterministic_and_seeded(name: str) -> None:
    generate, _ = images.BAD[name]
    assert generate(seed=5) == generate(seed=5)
    if name != "zero-byte":
        assert generate(seed=5) != generate(seed=6)


@pytest.mark.parametrize("name", list(images.BAD))
def test_bad_input_is_refused_with_a_named_reason(name: str) -> None:
    generate, reason = images.BAD[name]
    data = generate(seed=1)

    assert imaging.sniff_format(data[:32]) == EXPECTED_SNIFF[name]
    with pytest.raises(ImageUnusableError) as inspected:
        imaging.inspect_image(data)
    assert inspected.value.reason == reason
    assert inspected.value.detail
    with pytest.raises(ImageUnusableError) as loaded:  # the classifier's decode refuses it the same way
        imaging.load_rgb(data)
    assert loaded.value.reason == reason
    with pytest.raises(ImageUnusableError):
        imaging.to_jpeg(data)


@pytest.mark.parametrize("name", list(images.BAD))
def test_pipeline_inspect_rejects_bad_input_from_s3(s3: Any, name: str) -> None:
    generate, reason = images.BAD[name]
    data = generate(seed=2)

    inspection = inspect(s3, f"incoming/bad/{name}.jpg", data)

    assert inspection.usable is False and inspection.gone is False
    assert inspection.rejection is not None and inspection.rejection.reason == reason
    assert inspection.sha256 == hashlib.sha256(data).hexdigest()
    assert inspection.metadata is None


def test_bombs_are_tiny_files() -> None:
    assert len(images.png_bomb()) < 200
    assert len(images.gif_bomb()) < 100
    assert len(images.gif_bomb(in_frame=True)) < 100


def test_bomb_within_pillows_hard_limit_is_refused_by_our_limit_before_decoding() -> None:
    # 12000 x 12000 = 144 Mpx: over the default limit, under Pillow's DecompressionBombError (179 Mpx).
    data = images.png_bomb(width=12_000, height=12_000)
    with pytest.raises(ImageUnusableError) as exc:
        imaging.inspect_image(data)
    assert exc.value.reason is RejectionReason.DECOMPRESSION_BOMB
    assert "exceeds the limit" in exc.value.detail


def test_gif_bomb_in_a_later_frame_is_never_decoded() -> None:
    data = images.gif_bomb_later_frame(seed=2)  # frame 2 declares 60000 x 60000
    meta = imaging.inspect_image(data)
    assert (meta.format, meta.width, meta.height, meta.frames) == ("GIF", 100, 100, 2)
    assert imaging.load_rgb(data).size == (100, 100)  # the first frame only


def test_configured_pixel_limit_is_the_one_that_counts(s3: Any) -> None:
    data = images.png(seed=3, size=(96, 64))  # 6144 pixels

    small = inspect(s3, "incoming/px/small-limit.png", data, max_image_pixels=6000)
    exact = inspect(s3, "incoming/px/exact-limit.png", data, max_image_pixels=6144)

    assert small.rejection is not None and small.rejection.reason is RejectionReason.DECOMPRESSION_BOMB
    assert exact.usable is True


def test_pillows_bomb_warning_does_not_override_a_larger_configured_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 4000)  # 6144 px: Pillow warns, but is under its 2x hard error
    data = images.png(seed=4)

    assert imaging.inspect_image(data, max_pixels=10_000).width == 96
    with pytest.raises(ImageUnusableError) as exc:
        imaging.inspect_image(data, max_pixels=5_000)
    assert exc.value.reason is RejectionReason.DECOMPRESSION_BOMB


def test_png_with_a_bad_crc_in_an_ancillary_chunk_after_the_pixels_is_still_a_photo() -> None:
    good = images.png(seed=5)
    text = images.png_chunk(b"tEXt", b"Comment\x00hello", crc=0xDEADBEEF)

    assert imaging.inspect_image(good[:-12] + text + good[-12:]).format == "PNG"  # just before IEND
    # Before the pixel data Pillow checks every CRC itself: that file is refused as corrupt.
    with pytest.raises(ImageUnusableError) as exc:
        imaging.inspect_image(good[:33] + text + good[33:])
    assert exc.value.reason is RejectionReason.CORRUPT_IMAGE


def test_png_truncated_inside_idat_is_truncated() -> None:
    data = images.noise_png(seed=6, min_bytes=20_000)
    with pytest.raises(ImageUnusableError) as exc:
        imaging.inspect_image(data[: len(data) // 2])
    assert exc.value.reason is RejectionReason.TRUNCATED_IMAGE


@pytest.mark.parametrize("fraction", [0.1, 0.3, 0.6, 0.9, 0.98])
def test_jpeg_truncated_anywhere_in_the_scan_is_truncated(fraction: float) -> None:
    data = images.jpeg(seed=7, size=(320, 240))
    cut = data[: max(700, int(len(data) * fraction))]
    with pytest.raises(ImageUnusableError) as exc:
        imaging.inspect_image(cut)
    assert exc.value.reason is RejectionReason.TRUNCATED_IMAGE


def test_too_large_is_rejected_without_decoding(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    data = images.jpeg(seed=8)

    def no_decode(*_: object, **__: object) -> None:
        raise AssertionError("a TooLarge object must not be decoded")

    monkeypatch.setattr(imaging, "inspect_image", no_decode)
    inspection = inspect(s3, "incoming/big/photo.jpg", data, max_image_bytes=len(data) - 1)

    assert inspection.usable is False
    assert inspection.rejection is not None and inspection.rejection.reason is RejectionReason.TOO_LARGE
    assert f"{len(data)} bytes exceeds the limit of {len(data) - 1} bytes" in inspection.rejection.detail
    assert inspection.sha256 == hashlib.sha256(data).hexdigest()


def test_exactly_at_the_byte_limit_is_inspected(s3: Any) -> None:
    data = images.jpeg(seed=9)
    inspection = inspect(s3, "incoming/big/at-limit.jpg", data, max_image_bytes=len(data))
    assert inspection.usable is True and inspection.metadata is not None


# =========================================================================== unit: odd photos are converted
@pytest.mark.parametrize("name", list(images.ODD))
def test_odd_photos_are_inspected_and_convert_to_rgb(name: str) -> None:
    data = images.ODD[name](seed=1)
    fmt, mode, frames = EXPECTED_ODD[name]

    meta = imaging.inspect_image(data)
    rgb = imaging.load_rgb(data)
    jpeg = imaging.to_jpeg(data)

    assert (meta.format, meta.mode, meta.frames) == (fmt, mode, frames)
    assert imaging.sniff_format(data[:32]) == fmt
    assert rgb.mode == "RGB" and sorted(rgb.size) == sorted((meta.width, meta.height))
    assert imaging.inspect_image(jpeg).format == "JPEG"


@pytest.mark.parametrize("name", list(images.ODD))
def test_pipeline_inspect_accepts_odd_photos(s3: Any, name: str) -> None:
    data = images.ODD[name](seed=2)
    inspection = inspect(s3, f"incoming/odd/{name}.bin", data)
    assert inspection.usable is True and inspection.rejection is None
    assert inspection.metadata is not None and inspection.metadata.format == EXPECTED_ODD[name][0]


def test_animated_gif_is_classified_on_its_first_frame() -> None:
    frames = [Image.new("P", (32, 32), i) for i in (1, 2, 3)]
    for i, frame in enumerate(frames):
        frame.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0] * 64)
        assert frame.getpixel((0, 0)) == i + 1
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=50)

    assert imaging.inspect_image(out.getvalue()).frames == 3
    assert imaging.load_rgb(out.getvalue()).getpixel((16, 16)) == (0, 255, 0)  # palette index 1: frame one


@pytest.mark.parametrize(
    ("value16", "value8"),
    [(0, 0), (255, 0), (256, 1), (4660, 18), (32768, 128), (65280, 255), (65535, 255)],
)
def test_16_bit_samples_map_to_8_bits_without_numpy(value16: int, value8: int) -> None:
    img = Image.new("I;16", (2, 1), value16)
    out = io.BytesIO()
    img.save(out, format="PNG")
    assert imaging.load_rgb(out.getvalue()).getpixel((0, 0)) == (value8,) * 3


def test_16_bit_ramp_keeps_its_tones() -> None:
    rgb = imaging.load_rgb(images.png16(seed=0))
    row = [rgb.getpixel((x, 0))[0] for x in range(rgb.width)]
    assert row[0] == 0 and row[-1] == 255
    assert row == sorted(row) and 120 <= row[len(row) // 2] <= 136


def test_imaging_does_not_import_numpy() -> None:
    source = imaging.__file__
    with open(source, encoding="utf-8") as handle:
        assert "import numpy" not in handle.read()


def test_alpha_is_composited_on_white() -> None:
    img = Image.new("RGBA", (4, 4), (255, 0, 0, 255))
    img.putpixel((0, 0), (0, 0, 0, 0))
    out = io.BytesIO()
    img.save(out, format="PNG")
    rgb = imaging.load_rgb(out.getvalue())
    assert rgb.getpixel((0, 0)) == (255, 255, 255) and rgb.getpixel((1, 1)) == (255, 0, 0)


def test_palette_transparency_is_composited_on_white() -> None:
    rgb = imaging.load_rgb(images.png_palette(seed=3))
    assert rgb.mode == "RGB"


def _close(a: tuple[int, ...], b: tuple[int, ...], tolerance: int = 40) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))


def test_cmyk_jpeg_colours_survive_conversion() -> None:
    original = images.picture(seed=4)
    rgb = imaging.load_rgb(images.cmyk_jpeg(seed=4))
    for xy in [(5, 5), (48, 32), (90, 60)]:
        assert _close(rgb.getpixel(xy), original.getpixel(xy), tolerance=60), xy


def test_heic_from_a_phone_is_inspected_as_heif() -> None:
    data = images.heic(seed=5, size=(120, 80))
    assert data[4:12] == b"ftypheic"
    assert imaging.sniff_format(data[:32]) == "HEIF"
    meta = imaging.inspect_image(data)
    assert (meta.format, meta.width, meta.height) == ("HEIF", 120, 80)
    assert _close(imaging.load_rgb(data).getpixel((60, 40)), images.picture(seed=5, size=(120, 80)).getpixel((60, 40)))


# -- EXIF orientation: the stored pixels are the upright picture transformed by the inverse of the tag.
QUADRANTS = ((255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0))  # top-left, top-right, bottom-left, bottom-right
T = Image.Transpose
INVERSE = {1: None, 2: T.FLIP_LEFT_RIGHT, 3: T.ROTATE_180, 4: T.FLIP_TOP_BOTTOM, 5: T.TRANSPOSE,
           6: T.ROTATE_90, 7: T.TRANSVERSE, 8: T.ROTATE_270}  # fmt: skip


def upright_picture() -> Image.Image:
    img = Image.new("RGB", (64, 32))
    for i, colour in enumerate(QUADRANTS):
        img.paste(colour, ((i % 2) * 32, (i // 2) * 16, (i % 2) * 32 + 32, (i // 2) * 16 + 16))
    return img


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_extracted_and_honoured(orientation: int) -> None:
    stored = upright_picture()
    if INVERSE[orientation] is not None:
        stored = stored.transpose(INVERSE[orientation])
    exif = Image.Exif()
    exif[images.EXIF_ORIENTATION] = orientation
    out = io.BytesIO()
    stored.save(out, format="JPEG", quality=95, exif=exif.tobytes())

    meta = imaging.inspect_image(out.getvalue())
    rgb = imaging.load_rgb(out.getvalue())

    assert meta.orientation == orientation and (meta.width, meta.height) == stored.size
    assert rgb.size == (64, 32)
    for i, colour in enumerate(QUADRANTS):
        assert _close(rgb.getpixel(((i % 2) * 32 + 16, (i // 2) * 16 + 8)), colour), (orientation, i)


def test_corrupt_exif_loses_metadata_but_not_the_photo() -> None:
    data = images.jpeg_corrupt_exif(seed=6)
    meta = imaging.inspect_image(data)
    assert meta.orientation == 1 and meta.taken_at is None
    assert imaging.load_rgb(data).size == (96, 64)


# ============================================================================================ unit: odd keys
ODD_KEYS = [
    *(f"incoming/{name}" for name in images.ODD_KEY_NAMES),
    images.deep_key(seed=1, levels=20),
    images.long_key(seed=1, total_bytes=900),
    "incoming/" + "/".join(["folder-" + "d" * 33] * 20) + "/x.png",  # 20 levels, 829 bytes, short name
    "incoming/" + "😀" * 200 + ".png",  # a 200-character (800-byte) stem
]
ODD_KEY_IDS = ["spaces", "plus", "percent", "unicode", "deep", "long-900", "deep-829", "emoji-stem"]


def destinations(key: str, sha256: str) -> dict[str, str]:
    out = {
        prefix: routing.aside_key(prefix, key, sha256)
        for prefix in (constants.REJECTED_PREFIX, constants.DUPLICATES_PREFIX, constants.FAILED_PREFIX)
    }
    for template in (routing.DEFAULT_PATH, "{label}/{year}/{month}/{day}/{stem}-{sha8}{ext}"):
        out[template] = routing.render_key(
            "albums/some-album-name/", template, source_key=key, sha256=sha256, when=NOW, label="Label", fmt="PNG"
        )
    return out


@pytest.mark.parametrize("key", ODD_KEYS, ids=ODD_KEY_IDS)
def test_destination_keys_fit_in_s3s_1024_bytes(key: str) -> None:
    assert len(key.encode()) <= MAX_KEY_BYTES
    for kind, destination in destinations(key, "ab" * 32).items():
        assert len(destination.encode()) <= MAX_KEY_BYTES, (kind, len(destination.encode()))
        assert "abababab" in destination


def test_destination_of_a_maximal_key_fits_in_1024_bytes() -> None:
    key = "incoming/" + "d" * 1000 + "/" + "e" * 9 + ".png"
    assert len(key.encode()) == 1023
    for kind, destination in destinations(key, "ab" * 32).items():
        assert len(destination.encode()) <= MAX_KEY_BYTES, (kind, len(destination.encode()))


@pytest.mark.parametrize("key", ODD_KEYS, ids=ODD_KEY_IDS)
def test_pipeline_inspect_finds_odd_keys_from_their_event_form(s3: Any, key: str) -> None:
    data = images.png(seed=len(key))
    inspection = inspect(s3, key, data)
    assert inspection.usable is True and inspection.object.key == key


# =============================================================== workflow: the real pipeline in moto (last)
# A representative set (the unit tests above cover every case); each upload costs about a second.
WORKFLOW_BAD = ["zero-byte", "text-as-jpg", "truncated-jpeg", "png-bad-crc", "png-garbage-idat", "png-bomb", "gif-bomb"]
WORKFLOW_ODD = ["animated-gif", "cmyk-jpeg", "png16", "heic"]
WORKFLOW_KEYS = ["percent", "unicode", "deep", "long-900", "emoji-stem"]


def assert_ended_in_one_place(harness: Harness, key: str, data: bytes, destination: str) -> None:
    assert harness.keys_with_hash(sha8(data)) == [destination]
    assert harness.keys("incoming/") == []
    body = harness.s3.get_object(Bucket=harness.stack.bucket, Key=destination)["Body"].read()
    assert body == data
    assert harness.record_for(key) is not None


def assert_rejected(harness: Harness, key: str, data: bytes, reason: str) -> None:
    result = harness.upload(key, data)
    assert result.outcome.status == "SUCCEEDED", (result.outcome.error, result.outcome.cause)
    record = result.record
    assert record is not None and record.status is Status.REJECTED
    assert record.reason.startswith(f"{reason}: "), record.reason
    assert record.destination_key.startswith("rejected/")
    assert record.sha256 == hashlib.sha256(data).hexdigest()
    assert_ended_in_one_place(harness, key, data, record.destination_key)
    tags = harness.s3.get_object_tagging(Bucket=harness.stack.bucket, Key=record.destination_key)["TagSet"]
    assert {"Key": "photosort-status", "Value": "rejected"} in tags


@pytest.mark.parametrize("name", WORKFLOW_BAD)
def test_workflow_rejects_bad_input(harness: Harness, name: str) -> None:
    generate, reason = images.BAD[name]
    assert_rejected(harness, harness.unique(f"{name}.jpg"), generate(seed=100), reason)


def test_workflow_rejects_an_upload_over_the_byte_limit(harness: Harness) -> None:
    data = images.noise_png(seed=101, min_bytes=STACK_MAX_IMAGE_BYTES + 1)
    assert_rejected(harness, harness.unique("huge.png"), data, "TooLarge")


@pytest.mark.parametrize("name", WORKFLOW_ODD)
def test_workflow_classifies_odd_photos(harness: Harness, name: str) -> None:
    data = images.ODD[name](seed=200)
    key = harness.unique(f"{name}.img")

    result = harness.upload(key, data)

    assert result.outcome.status == "SUCCEEDED", (result.outcome.error, result.outcome.cause)
    record = result.record
    assert record is not None and record.status in (Status.SORTED, Status.UNSORTED), record.reason
    assert record.labels, "classified: the backend returned labels"
    assert record.metadata is not None and record.metadata.format == EXPECTED_ODD[name][0]
    assert record.destination_key.startswith(("albums/", "unsorted/"))
    assert_ended_in_one_place(harness, key, data, record.destination_key)


@pytest.mark.parametrize("key", [k for k, i in zip(ODD_KEYS, ODD_KEY_IDS, strict=True) if i in WORKFLOW_KEYS],
                         ids=WORKFLOW_KEYS)  # fmt: skip
def test_workflow_sorts_odd_keys(harness: Harness, key: str) -> None:
    data = images.png(seed=300 + len(key))  # each key is used once in this module's stack

    result = harness.upload(key, data)

    record = result.record
    assert result.outcome.status == "SUCCEEDED", (result.outcome.error, result.outcome.cause)
    assert record is not None and record.source_key == key
    assert record.status in (Status.SORTED, Status.UNSORTED)
    assert len(record.destination_key.encode()) <= MAX_KEY_BYTES
    assert_ended_in_one_place(harness, key, data, record.destination_key)


def test_workflow_rejects_bad_input_under_an_odd_key(harness: Harness) -> None:
    key = harness.unique("My Trip + café/100% truncated 😀.jpg")
    assert_rejected(harness, key, images.truncated_jpeg(seed=400), "TruncatedImage")

"""The imaging contract: what inspect_image reports, what it refuses and why, and what load_rgb/to_jpeg return.

Every photo is built here with Pillow (and pillow-heif for HEIC), so each test names the exact bytes it feeds in.
"""

from __future__ import annotations

import struct
import warnings
import zlib
from datetime import datetime
from io import BytesIO

import pytest
from PIL import Image, ImageFile

from photosort import imaging
from photosort.errors import ImageUnusableError
from photosort.models import RejectionReason


def encode(img: Image.Image, fmt: str, **kwargs: object) -> bytes:
    out = BytesIO()
    img.save(out, format=fmt, **kwargs)
    return out.getvalue()


def rejected(data: bytes, **kwargs: int) -> ImageUnusableError:
    with pytest.raises(ImageUnusableError) as caught:
        imaging.inspect_image(data, **kwargs)
    return caught.value


def exif_bytes(**tags: object) -> bytes:
    exif = Image.Exif()
    ifd: dict[int, object] = {}
    for name, value in tags.items():
        if name == "original":
            ifd[imaging._EXIF_DATETIME_ORIGINAL] = value
        else:
            exif[{"orientation": 0x0112, "make": 0x010F, "model": 0x0110, "datetime": 0x0132}[name]] = value
    if ifd:
        exif.get_ifd(imaging._EXIF_IFD).update(ifd)
    return exif.tobytes()


def jpeg(size: tuple[int, int] = (40, 30), colour: object = (200, 30, 30), **kwargs: object) -> bytes:
    return encode(Image.new("RGB", size, colour), "JPEG", quality=95, **kwargs)


# -- format identification: by bytes only ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fmt", "mode"),
    [("JPEG", "RGB"), ("PNG", "RGBA"), ("GIF", "P"), ("WEBP", "RGB"), ("TIFF", "RGB"), ("BMP", "RGB")],
)
def test_each_allowed_format_is_identified_from_its_bytes(fmt: str, mode: str) -> None:
    data = encode(Image.new(mode, (33, 21)), fmt)

    assert imaging.sniff_format(data[:32]) == fmt
    meta = imaging.inspect_image(data)
    assert (meta.format, meta.width, meta.height, meta.frames, meta.orientation) == (fmt, 33, 21, 1, 1)
    assert meta.mode == mode and meta.taken_at is None and meta.camera_make is None and meta.camera_model is None


def test_big_endian_tiff_and_both_gif_versions_are_identified() -> None:
    assert imaging.sniff_format(b"MM\x00*" + b"\x00" * 28) == "TIFF"
    assert imaging.sniff_format(b"II*\x00" + b"\x00" * 28) == "TIFF"
    assert imaging.sniff_format(b"GIF87a" + b"\x00" * 26) == "GIF"
    assert imaging.sniff_format(b"GIF89a" + b"\x00" * 26) == "GIF"
    assert imaging.sniff_format(b"GIF88a" + b"\x00" * 26) is None


def test_a_bmp_signature_needs_a_whole_header() -> None:
    assert imaging.sniff_format(b"BM" + b"\x00" * 24) == "BMP"
    assert imaging.sniff_format(b"BM" + b"\x00" * 23) is None  # 25 bytes: "BM" at the start of a text file


def test_webp_needs_the_riff_form_type() -> None:
    assert imaging.sniff_format(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "WEBP"
    assert imaging.sniff_format(b"RIFF\x00\x00\x00\x00WAVEfmt ") is None
    assert imaging.sniff_format(b"RIFX\x00\x00\x00\x00WEBPVP8 ") is None


@pytest.mark.parametrize("brand", [b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif"])
def test_every_heif_brand_is_a_photo(brand: bytes) -> None:
    assert imaging.sniff_format(b"\x00\x00\x00\x18ftyp" + brand + b"\x00" * 20) == "HEIF"


def test_an_ftyp_box_with_a_video_brand_is_not_a_photo() -> None:
    assert imaging.sniff_format(b"\x00\x00\x00\x18ftypisom" + b"\x00" * 20) is None
    assert imaging.sniff_format(b"\x00\x00\x00\x18moovheic" + b"\x00" * 20) is None


def test_a_heic_photo_decodes_and_reports_heif() -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    data = encode(Image.new("RGB", (64, 48), (10, 200, 10)), "HEIF", quality=90)

    meta = imaging.inspect_image(data)

    assert (meta.format, meta.width, meta.height) == ("HEIF", 64, 48)
    assert imaging.load_rgb(data).getpixel((32, 24))[1] > 150


def test_an_avif_photo_is_reported_as_heif() -> None:
    data = encode(Image.new("RGB", (32, 32), (0, 0, 250)), "AVIF")
    meta = imaging.inspect_image(data)
    assert (meta.format, meta.width, meta.height) == ("HEIF", 32, 32)


@pytest.mark.parametrize(
    ("head", "name"),
    [
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", "audio/wav"),
        (b"RIFF\x00\x00\x00\x00AVI LIST", "video/x-msvideo (AVI)"),
        (b"\x00\x00\x00\x18ftyp3gp4" + b"\x00" * 8, "video/3gpp"),
        (b"\x00\x00\x00\x18ftypcrx " + b"\x00" * 8, "Canon CR3 raw"),
        (b"\x00\x00\x00\x18ftypM4V " + b"\x00" * 8, "video/mp4"),
        (b"\x00\x00\x00\x18ftypabcd" + b"\x00" * 8, "ISO media ('abcd' brand)"),
        (b"\x00\x00\x00\x18ftypab  " + b"\x00" * 8, "ISO media ('ab' brand)"),
        (b"\x00\x00\x00\x08mdat" + b"\x00" * 8, "video/quicktime (MOV)"),
        (b"\x00\x00\x00\x08wide" + b"\x00" * 8, "video/quicktime (MOV)"),
        (b"\x00\x00\x00\x08free" + b"\x00" * 8, "video/quicktime (MOV)"),
        (b"\xef\xbb\xbf  \n<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml (vector drawing)"),
        (b"<SVG width='1'/>", "image/svg+xml (vector drawing)"),
        (b"<!DOCTYPE html><html></html>", "text/html"),
        (b"\n<HTML><body></body></html>", "text/html"),
        (b"\x1f\x8b\x08\x00", "application/gzip"),
        (b"ID3\x04\x00", "audio/mpeg"),
        (b"8BPS\x00\x01", "image/vnd.adobe.photoshop (PSD)"),
    ],
)
def test_other_files_are_named(head: bytes, name: str) -> None:
    assert imaging.sniff_other(head) == name
    error = rejected(head + b"\x00" * 64)
    assert error.reason is RejectionReason.UNSUPPORTED_FORMAT and error.detail == name


@pytest.mark.parametrize(
    "head",
    [
        b"RIFF\x00\x00\x00\x00XXXXfmt ",  # another RIFF form: unknown
        b"<?xml version='1.0'?><note>not a drawing</note>",  # XML that is not SVG
        b"hello <svg> in the middle of text",  # "<svg" that does not open the file
        b"plain text",
    ],
)
def test_unknown_files_are_not_named(head: bytes) -> None:
    assert imaging.sniff_other(head) is None
    error = rejected(head)
    assert error.reason is RejectionReason.NOT_AN_IMAGE
    assert error.detail == "the bytes do not start with any image signature"


def test_an_empty_object_is_named_as_such() -> None:
    error = rejected(b"")
    assert error.reason is RejectionReason.EMPTY_OBJECT and error.detail == "the object has zero bytes"


def test_identification_ignores_what_a_file_claims_after_its_head() -> None:
    # A PDF whose 64th byte onwards looks like a PNG is a PDF; an image signature after byte 32 does not count.
    assert rejected(b"%PDF-1.7" + b"\x00" * 100 + b"\x89PNG\r\n\x1a\n").detail == "application/pdf"
    assert rejected(b"x" * 40 + jpeg()).reason is RejectionReason.NOT_AN_IMAGE


# -- the pixel limit: checked from the header, and again on the decoded frame ----------------------------------
def test_an_image_exactly_at_the_pixel_limit_is_accepted_and_one_pixel_more_is_a_bomb() -> None:
    data = encode(Image.new("L", (100, 50)), "PNG")

    assert imaging.inspect_image(data, max_pixels=5000).width == 100
    assert imaging.load_rgb(data, max_pixels=5000).size == (100, 50)
    error = rejected(data, max_pixels=4999)
    assert error.reason is RejectionReason.DECOMPRESSION_BOMB
    assert error.detail == "100x50 = 5000 pixels exceeds the limit of 4999"
    with pytest.raises(ImageUnusableError) as caught:
        imaging.load_rgb(data, max_pixels=4999)
    assert caught.value.reason is RejectionReason.DECOMPRESSION_BOMB


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` pixels and holds none (only the header is ever read)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    iend = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    return b"\x89PNG\r\n\x1a\n" + chunk + iend


def test_the_default_pixel_limit_is_one_hundred_megapixels() -> None:
    error = rejected(png_header(10_001, 10_000))
    assert error.reason is RejectionReason.DECOMPRESSION_BOMB
    assert error.detail.endswith("exceeds the limit of 100000000")


def test_a_configured_limit_above_pillows_warning_threshold_is_honoured() -> None:
    # Pillow warns at 89.5 Mpx; only the configured limit counts (a 90 Mpx header under a 100 Mpx limit opens).
    img = imaging._open(png_header(9_000, 10_000), 100_000_000)
    assert img.size == (9_000, 10_000)


# -- damaged files ---------------------------------------------------------------------------------------------
def test_a_truncated_jpeg_is_rejected_even_when_someone_allowed_truncated_images() -> None:
    data = encode(Image.effect_noise((200, 200), 60).convert("RGB"), "JPEG", quality=90)
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        error = rejected(data[: len(data) // 2])
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = False
    assert error.reason is RejectionReason.TRUNCATED_IMAGE
    assert error.detail.startswith("JPEG: ")


def _png_chunks(data: bytes) -> list[tuple[int, bytes]]:
    pos, out = 8, []
    while pos < len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        out.append((pos, data[pos + 4 : pos + 8]))
        pos += 12 + length
    return out


def _flip_in_chunk(data: bytes, kind: bytes) -> bytes:
    pos = next(p for p, k in _png_chunks(data) if k == kind)
    buf = bytearray(data)
    buf[pos + 8] ^= 0x01  # the first data byte: the stored CRC no longer matches
    return bytes(buf)


def test_a_flipped_bit_in_png_pixel_data_is_corruption() -> None:
    data = encode(Image.new("RGB", (16, 16), (1, 2, 3)), "PNG", compress_level=0)
    idat = next(p for p, k in _png_chunks(data) if k == b"IDAT")

    error = rejected(_flip_in_chunk(data, b"IDAT"))

    assert error.reason is RejectionReason.CORRUPT_IMAGE
    assert error.detail == f"PNG: bad CRC in 'IDAT' chunk at byte {idat}"


def test_a_bad_crc_in_an_ancillary_png_chunk_only_costs_metadata() -> None:
    # A tEXt chunk with a wrong CRC after the pixel data (Pillow itself checks the chunks before IDAT).
    data = encode(Image.new("RGB", (16, 16)), "PNG")
    iend = data.index(b"IEND") - 4
    bad_text = struct.pack(">I", 5) + b"tEXta\x00bcd" + b"\x00\x00\x00\x00"
    meta = imaging.inspect_image(data[:iend] + bad_text + data[iend:])
    assert (meta.format, meta.width) == ("PNG", 16)


def test_bytes_after_the_png_end_chunk_are_not_checked() -> None:
    data = encode(Image.new("RGB", (8, 8)), "PNG")
    trailer = struct.pack(">I", 4) + b"IDAT" + b"\x00\x00\x00\x00" + b"\xde\xad\xbe\xef"  # a bad CRC after IEND
    assert imaging.inspect_image(data + trailer).format == "PNG"


def test_a_png_cut_inside_a_chunk_is_left_to_the_decoder_which_says_truncated() -> None:
    data = encode(Image.effect_noise((64, 64), 50).convert("RGB"), "PNG")
    error = rejected(data[: len(data) - 40])
    assert error.reason is RejectionReason.TRUNCATED_IMAGE


def test_an_unparseable_header_of_a_known_format_is_corrupt() -> None:
    error = rejected(b"GIF89a" + b"\x00" * 40)
    assert error.reason is RejectionReason.CORRUPT_IMAGE
    assert error.detail == "GIF header cannot be parsed"
    # A PNG signature followed by no valid chunk fails the CRC check of its first (critical-looking) chunk.
    assert (
        rejected(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40).detail == "PNG: bad CRC in '\\x00\\x00\\x00\\x00' chunk at byte 8"
    )


@pytest.mark.parametrize(
    ("exc", "reason", "detail"),
    [
        (OSError("image file is truncated (3 bytes not processed)"), "TruncatedImage", "JPEG: image file is truncated"),
        (OSError("Truncated File Read"), "TruncatedImage", "JPEG: Truncated File Read"),
        (EOFError(), "TruncatedImage", "JPEG: EOFError"),
        (SyntaxError("unexpected end of file"), "TruncatedImage", "JPEG: unexpected end of file"),
        (ValueError("premature end of data segment"), "TruncatedImage", "JPEG: premature end of data segment"),
        (OSError("broken data stream when reading image file"), "CorruptImage", "JPEG: broken data stream"),
        (ValueError(""), "CorruptImage", "JPEG: ValueError"),
        (struct.error("unpack requires a buffer"), "CorruptImage", "JPEG: error: unpack requires a buffer"),
        (IndexError("list index out of range"), "CorruptImage", "JPEG: IndexError: list index out of range"),
        (KeyError("x"), "CorruptImage", "JPEG: KeyError: 'x'"),
        (ZeroDivisionError("division by zero"), "CorruptImage", "JPEG: ZeroDivisionError: division by zero"),
    ],
)
def test_whatever_a_decoder_raises_becomes_a_named_rejection(exc: Exception, reason: str, detail: str) -> None:
    with pytest.raises(ImageUnusableError) as caught, imaging._guard("JPEG"):
        raise exc
    assert caught.value.reason.value == reason
    assert caught.value.detail.startswith(detail)
    assert caught.value.__cause__ is exc


def test_a_decoder_running_out_of_memory_is_too_large() -> None:
    with pytest.raises(ImageUnusableError) as caught, imaging._guard("TIFF"):
        raise MemoryError
    assert caught.value.reason is RejectionReason.TOO_LARGE
    assert caught.value.detail == "TIFF: decoding needs more memory than is available"


def test_a_rejection_raised_inside_the_guard_passes_through_unchanged() -> None:
    original = ImageUnusableError(RejectionReason.EMPTY_OBJECT, "as raised")
    with pytest.raises(ImageUnusableError) as caught, imaging._guard("PNG"):
        raise original
    assert caught.value is original


def test_a_long_decoder_message_is_cut_to_500_characters() -> None:
    with pytest.raises(ImageUnusableError) as caught, imaging._guard("GIF"):
        raise OSError("x" * 2000)
    assert caught.value.detail == ("GIF: " + "x" * 2000)[:500]


def test_metadata_warnings_are_not_rejections_even_under_error_filters() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with imaging._guard("PNG"):
            warnings.warn("Corrupt EXIF data", UserWarning, stacklevel=1)  # swallowed: metadata only
        with pytest.raises(ImageUnusableError) as caught, imaging._guard("PNG"):
            warnings.warn("too big", Image.DecompressionBombWarning, stacklevel=1)
    assert caught.value.reason is RejectionReason.DECOMPRESSION_BOMB and caught.value.detail == "PNG: too big"


# -- frames, orientation and EXIF ------------------------------------------------------------------------------
def test_an_animated_gif_counts_its_frames() -> None:
    frames = [Image.new("RGB", (10, 10), (i * 80, 0, 0)) for i in range(3)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)
    meta = imaging.inspect_image(data)
    assert (meta.format, meta.frames) == ("GIF", 3)


@pytest.mark.parametrize(("stored", "reported"), [(1, 1), (3, 3), (6, 6), (8, 8), (9, 1), (0, 1)])
def test_orientation_comes_from_exif_and_out_of_range_values_mean_upright(stored: int, reported: int) -> None:
    meta = imaging.inspect_image(jpeg(exif=exif_bytes(orientation=stored)))
    assert meta.orientation == reported


def test_the_capture_time_is_the_exif_original_time_before_the_file_time() -> None:
    both = exif_bytes(original="2021:07:04 10:20:30", datetime="2022:01:01 00:00:00")
    assert imaging.inspect_image(jpeg(exif=both)).taken_at == datetime(2021, 7, 4, 10, 20, 30)
    only_file_time = exif_bytes(datetime="2022:01:02 03:04:05\x00")
    assert imaging.inspect_image(jpeg(exif=only_file_time)).taken_at == datetime(2022, 1, 2, 3, 4, 5)
    bad_original = exif_bytes(original="not a date", datetime="2022:01:02 03:04:05")
    assert imaging.inspect_image(jpeg(exif=bad_original)).taken_at == datetime(2022, 1, 2, 3, 4, 5)
    assert imaging.inspect_image(jpeg(exif=exif_bytes(datetime="    :  :     :  :  "))).taken_at is None


def test_camera_make_and_model_are_cleaned_and_capped() -> None:
    meta = imaging.inspect_image(jpeg(exif=exif_bytes(make="  Canon\x00\x00", model="M" * 200)))
    assert meta.camera_make == "Canon"
    assert meta.camera_model == "M" * 128
    blank = imaging.inspect_image(jpeg(exif=exif_bytes(make="   ", model="X")))
    assert blank.camera_make is None and blank.camera_model == "X"


def test_exif_text_and_time_parsers() -> None:
    assert imaging._text(b"Nikon\x00") == "Nikon"
    assert imaging._text(b"\xffbad") == "\ufffdbad"
    assert imaging._text(" \x00 ") is None
    assert imaging._text(42) is None
    assert imaging._parse_exif_datetime(" 2020:02:29 23:59:58\x00") == datetime(2020, 2, 29, 23, 59, 58)
    assert imaging._parse_exif_datetime("2020:02:30 00:00:00") is None
    assert imaging._parse_exif_datetime(20200229) is None


def test_a_broken_exif_block_loses_metadata_but_not_the_photo() -> None:
    data = jpeg(exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff" + b"\x00" * 8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the EXIF readers' own warnings are swallowed too
        meta = imaging.inspect_image(data)
    assert (meta.format, meta.orientation, meta.taken_at, meta.camera_make) == ("JPEG", 1, None, None)


def test_exif_without_orientation_is_upright() -> None:
    meta = imaging.inspect_image(jpeg(exif=exif_bytes(make="Sony")))
    assert (meta.orientation, meta.camera_make, meta.camera_model) == (1, "Sony", None)


# -- load_rgb: upright 8-bit RGB ---------------------------------------------------------------------------------
def test_load_rgb_applies_the_exif_orientation() -> None:
    img = Image.new("RGB", (60, 20), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 10, 20))  # the stored left edge is red
    data = encode(img, "JPEG", quality=95, exif=exif_bytes(orientation=6))

    upright = imaging.load_rgb(data)

    assert upright.size == (20, 60)  # orientation 6: rotate 90 degrees clockwise to view
    red, _, blue = upright.getpixel((10, 2))
    assert red > 200 and blue < 60  # the stored left edge is now the top


def test_a_broken_exif_block_leaves_the_pixels_as_stored() -> None:
    class Broken:
        def getexif(self) -> object:
            raise SyntaxError("bad exif")

    stub = Broken()
    assert imaging._upright(stub) is stub  # type: ignore[arg-type]
    assert imaging._exif(stub) is None  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_transparency_is_composited_on_white(mode: str) -> None:
    img = Image.new("RGBA", (4, 4), (0, 0, 0, 0)).convert(mode)
    out = imaging.load_rgb(encode(img, "PNG"))
    assert out.mode == "RGB" and out.getpixel((1, 1)) == (255, 255, 255)


def _pa_png() -> bytes:
    # A palette image whose palette index 0 is fully transparent (Pillow saves it as P + tRNS).
    img = Image.new("P", (4, 4), 0)
    img.putpalette([0, 0, 0] * 256)
    return encode(img, "PNG", transparency=0)


def test_a_palette_image_with_a_transparent_index_is_composited_on_white() -> None:
    out = imaging.load_rgb(_pa_png())
    assert out.getpixel((0, 0)) == (255, 255, 255)


def test_a_palette_image_without_transparency_keeps_its_colours() -> None:
    img = Image.new("P", (4, 4), 0)
    img.putpalette([10, 20, 30] * 256)
    assert imaging.load_rgb(encode(img, "PNG")).getpixel((0, 0)) == (10, 20, 30)


def test_half_transparent_pixels_are_blended_with_white() -> None:
    out = imaging.load_rgb(encode(Image.new("RGBA", (2, 2), (0, 0, 0, 128)), "PNG"))
    assert all(126 <= c <= 128 for c in out.getpixel((0, 0)))


@pytest.mark.parametrize(("sample", "expected"), [(0, 0), (65535, 255), (32768, 128), (256, 1), (255, 0)])
def test_sixteen_bit_samples_keep_their_tone(sample: int, expected: int) -> None:
    img = Image.new("I;16", (4, 4), sample)
    out = imaging.load_rgb(encode(img, "PNG"))
    assert out.getpixel((2, 2)) == (expected, expected, expected)


def test_a_grey_image_comes_back_as_rgb() -> None:
    out = imaging.load_rgb(encode(Image.new("L", (5, 5), 77), "PNG"))
    assert (out.mode, out.getpixel((0, 0))) == ("RGB", (77, 77, 77))


def test_jpeg_is_dct_scaled_to_just_above_the_draft_size() -> None:
    data = jpeg(size=(2048, 1024))
    assert imaging.load_rgb(data, draft_size=(256, 256)).size == (512, 256)  # 1/4: the smallest scale >= 256
    assert imaging.load_rgb(data).size == (2048, 1024)


def test_shrink_uses_the_largest_whole_factor_and_never_goes_below_the_size() -> None:
    img = Image.new("RGB", (1000, 700))
    assert imaging._shrink(img, (256, 256)).size == (500, 350)  # min(1000 // 256, 700 // 256) = 2
    assert imaging._shrink(img, (400, 400)) is img  # factor 1: nothing to gain
    assert imaging._shrink(Image.new("RGB", (2000, 2000)), (250, 250)).size == (250, 250)  # factor 8 exactly
    palette = Image.new("P", (2000, 2000))
    assert imaging._shrink(palette, (250, 250)) is palette  # Pillow cannot box-reduce palette images


# -- to_jpeg -----------------------------------------------------------------------------------------------------
def test_to_jpeg_makes_an_upright_baseline_jpeg_within_max_side() -> None:
    img = Image.new("RGBA", (1500, 500), (0, 128, 0, 255))
    out = imaging.to_jpeg(encode(img, "PNG"), max_side=600)
    with Image.open(BytesIO(out)) as back:
        assert back.format == "JPEG" and back.mode == "RGB"
        assert back.size == (600, 200)
        assert not back.info.get("progressive")


def test_to_jpeg_keeps_a_small_image_at_its_size_and_honours_quality() -> None:
    noisy = encode(Image.effect_noise((300, 200), 80).convert("RGB"), "PNG")
    high = imaging.to_jpeg(noisy, quality=95)
    low = imaging.to_jpeg(noisy, quality=20)
    default = imaging.to_jpeg(noisy)
    with Image.open(BytesIO(default)) as back:
        assert back.size == (300, 200)
    assert len(low) < len(default) < len(high)


def test_to_jpeg_rotates_by_exif() -> None:
    out = imaging.to_jpeg(jpeg(size=(80, 40), exif=exif_bytes(orientation=8)))
    with Image.open(BytesIO(out)) as back:
        assert back.size == (40, 80)


def test_to_jpeg_refuses_what_inspect_refuses() -> None:
    with pytest.raises(ImageUnusableError) as caught:
        imaging.to_jpeg(encode(Image.new("L", (100, 100)), "PNG"), max_pixels=9999)
    assert caught.value.reason is RejectionReason.DECOMPRESSION_BOMB


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA", "RGBX", "CMYK", "I", "F"])
def test_every_reducible_mode_is_box_reduced(mode: str) -> None:
    assert imaging._shrink(Image.new(mode, (600, 600)), (256, 256)).size == (300, 300)


@pytest.mark.parametrize(("sample", "expected"), [(30000, 117), (65535, 255), (0, 0)])
def test_a_big_sixteen_bit_png_is_reduced_and_keeps_its_tone(sample: int, expected: int) -> None:
    # Regression: Pillow cannot reduce "I;16", so such a photo (>= 2x the draft size) was rejected as CorruptImage.
    out = imaging.load_rgb(encode(Image.new("I;16", (600, 600), sample), "PNG"), draft_size=(256, 256))
    assert out.size == (300, 300) and out.getpixel((5, 5)) == (expected, expected, expected)


def test_a_thirty_two_bit_integer_image_keeps_its_tone() -> None:
    out = imaging.load_rgb(encode(Image.new("I", (4, 4), 32768), "TIFF"))  # straight to RGB would clip to white
    assert out.getpixel((0, 0)) == (128, 128, 128)


def test_a_one_pixel_wide_image_is_a_photo() -> None:
    meta = imaging.inspect_image(encode(Image.new("RGB", (1, 7)), "PNG"))
    assert (meta.width, meta.height) == (1, 7)
    assert imaging.inspect_image(encode(Image.new("RGB", (7, 1)), "PNG")).height == 1


def test_a_bad_crc_in_the_png_end_chunk_is_corruption() -> None:
    data = encode(Image.new("RGB", (8, 8)), "PNG")
    broken = data[:-4] + bytes(b ^ 0xFF for b in data[-4:])
    error = rejected(broken)
    assert error.reason is RejectionReason.CORRUPT_IMAGE
    assert error.detail == f"PNG: bad CRC in 'IEND' chunk at byte {len(data) - 12}"


def test_only_the_first_64_bytes_name_a_drawing() -> None:
    opening = b"<?xml version='1.0'?>"
    inside = opening + b" " * (60 - len(opening)) + b"<svg/>"  # "<svg" at bytes 60-63: inside the first 64
    outside = opening + b" " * (61 - len(opening)) + b"<svg/>"  # at bytes 61-64: one byte too far
    assert rejected(inside).detail == "image/svg+xml (vector drawing)"
    assert rejected(outside).reason is RejectionReason.NOT_AN_IMAGE


def test_to_jpeg_defaults_to_quality_90_and_4096_pixels() -> None:
    noisy = encode(Image.effect_noise((120, 80), 80).convert("RGB"), "PNG")
    assert imaging.to_jpeg(noisy) == imaging.to_jpeg(noisy, quality=90)
    assert imaging.to_jpeg(noisy) != imaging.to_jpeg(noisy, quality=89)
    with Image.open(BytesIO(imaging.to_jpeg(encode(Image.new("L", (5000, 50)), "PNG")))) as back:
        assert back.size == (4096, 41)


def test_shrink_takes_each_side_against_its_own_target() -> None:
    img = Image.new("RGB", (1000, 700))
    assert imaging._shrink(img, (400, 100)).size == (500, 350)  # min(1000 // 400, 700 // 100) = 2


def test_a_png_cut_short_after_a_whole_chunk_is_a_named_rejection() -> None:
    data = encode(Image.new("RGB", (8, 8)), "PNG")
    ihdr_end = 8 + 12 + 13  # signature, then the IHDR chunk (13 data bytes)
    error = rejected(data[: ihdr_end + 5])  # five stray bytes: too few for another chunk header
    assert error.reason in (RejectionReason.TRUNCATED_IMAGE, RejectionReason.CORRUPT_IMAGE)


def _apng(frames: list[Image.Image]) -> bytes:
    return encode(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=50)


def _decode_once_cases() -> list[tuple[str, bytes]]:
    gradient = Image.linear_gradient("L").resize((640, 480))
    rgb = Image.merge("RGB", (gradient, gradient.rotate(90), gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    rotated = Image.Exif()
    rotated[imaging._EXIF_ORIENTATION] = 6
    palette = rgb.convert("P", palette=Image.Palette.ADAPTIVE)
    rgba = rgb.convert("RGBA")
    rgba.putalpha(gradient)
    return [
        ("big jpeg (1/2 scale)", encode(rgb, "JPEG", quality=90)),
        ("jpeg that 1/8 would undersize", encode(rgb.resize((1200, 900)), "JPEG")),
        ("small jpeg", encode(rgb.resize((60, 45)), "JPEG")),
        ("rotated jpeg", encode(rgb, "JPEG", exif=rotated.tobytes())),
        ("cmyk jpeg", encode(rgb.convert("CMYK"), "JPEG")),
        ("grey jpeg", encode(gradient, "JPEG")),
        ("rgba png", encode(rgba, "PNG")),
        ("16-bit png", encode(gradient.convert("I;16"), "PNG")),
        ("palette png with transparency", encode(palette, "PNG", transparency=0)),
        ("animated gif", encode(palette, "GIF", save_all=True, append_images=[palette.rotate(180)], loop=0)),
        ("animated png", _apng([rgb, rgb.rotate(180), rgb.transpose(Image.Transpose.FLIP_TOP_BOTTOM)])),
        ("webp", encode(rgb, "WEBP", quality=80)),
        ("tiff", encode(rgb, "TIFF")),
    ]


@pytest.mark.parametrize(("name", "data"), _decode_once_cases(), ids=lambda v: v if isinstance(v, str) else "")
def test_the_frame_inspect_decodes_makes_the_same_pixels_as_load_rgb(name: str, data: bytes) -> None:
    draft = (256, 256)
    metadata, decoded = imaging.inspect_and_decode(data, max_pixels=10**7, draft_size=draft)
    assert metadata == imaging.inspect_image(data, max_pixels=10**7)
    assert (decoded.draft_size, decoded.max_pixels) == (draft, 10**7)
    ours = imaging.rgb_from(decoded.image, draft)
    theirs = imaging.load_rgb(data, max_pixels=10**7, draft_size=draft)
    assert (ours.mode, ours.size) == (theirs.mode, theirs.size)
    assert ours.tobytes() == theirs.tobytes(), name


def test_inspect_still_catches_truncation_at_the_classifier_s_size() -> None:
    gradient = Image.linear_gradient("L").resize((800, 600))
    whole = encode(Image.merge("RGB", (gradient, gradient, gradient)), "JPEG")
    with pytest.raises(ImageUnusableError) as caught:
        imaging.inspect_and_decode(whole[: len(whole) * 2 // 3], max_pixels=10**7, draft_size=(256, 256))
    assert caught.value.reason is RejectionReason.TRUNCATED_IMAGE
    with pytest.raises(ImageUnusableError) as bomb:
        imaging.inspect_and_decode(whole, max_pixels=800 * 600 - 1, draft_size=(256, 256))
    assert bomb.value.reason is RejectionReason.DECOMPRESSION_BOMB

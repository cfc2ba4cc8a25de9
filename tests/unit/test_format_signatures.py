"""Files that are not decodable photos are rejected with a reason that names what they are."""

from __future__ import annotations

import struct

import pytest

from photosort import imaging
from photosort.errors import ImageUnusableError
from photosort.models import RejectionReason


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def _ftyp(brand: bytes, *compatible: bytes) -> bytes:
    return _box(b"ftyp", brand + b"\x00\x00\x02\x00" + b"".join(compatible)) + _box(b"mdat", b"\x00" * 64)


JXL_CODESTREAM = b"\xff\x0a\xfa\x1f\x41\x00\x4b\x88" + b"\x00" * 64  # SizeHeader of a 4000x3000 image follows FF0A
JXL_CONTAINER = (
    b"\x00\x00\x00\x0cJXL \r\n\x87\n" + _box(b"ftyp", b"jxl \x00\x00\x00\x00jxl ") + _box(b"jxlc", JXL_CODESTREAM)
)

CASES = {
    "jpeg-xl codestream": (JXL_CODESTREAM, "JPEG XL"),
    "jpeg-xl container": (JXL_CONTAINER, "JPEG XL"),
    "mp4": (_ftyp(b"isom", b"isom", b"iso2", b"avc1", b"mp41"), "video/mp4"),
    "mp4 mp42": (_ftyp(b"mp42", b"mp42", b"isom"), "video/mp4"),
    "mov": (_ftyp(b"qt  ", b"qt  "), "video/quicktime"),
    "old mov": (_box(b"moov", b"\x00" * 64), "video/quicktime"),
    "avi": (b"RIFF" + struct.pack("<I", 1000) + b"AVI LIST" + b"\x00" * 64, "video/x-msvideo"),
    "mkv": (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01" + b"\x00" * 32, "video/x-matroska"),
    "pdf": (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "application/pdf"),
    "docx": (b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 40 + b"[Content_Types].xml", "application/zip"),
    "doc": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "application/x-ole-storage"),
    "svg": (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>', "image/svg+xml"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_named_unsupported_format(name: str) -> None:
    data, expected = CASES[name]
    with pytest.raises(ImageUnusableError) as caught:
        imaging.inspect_image(data)
    assert caught.value.reason is RejectionReason.UNSUPPORTED_FORMAT
    assert str(caught.value).startswith(f"UnsupportedFormat: {expected}")


def test_unknown_bytes_are_not_an_image() -> None:
    with pytest.raises(ImageUnusableError) as caught:
        imaging.inspect_image(b"hello, this is a plain text file\n")
    assert caught.value.reason is RejectionReason.NOT_AN_IMAGE


def test_heif_is_still_a_photo_format() -> None:
    assert imaging.sniff_format(_ftyp(b"heic", b"mif1", b"heic")) == "HEIF"

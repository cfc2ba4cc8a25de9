"""The labelled development set's manifest: real photos from pinned packages, a held-out split, every source named."""

from __future__ import annotations

import io
import struct
import tarfile
from collections import Counter
from pathlib import Path

from PIL import Image

from photosort_local import devset

SOURCES, PHOTOS = devset.load_manifest()


def test_there_are_enough_photos_with_unique_ids_and_hashes() -> None:
    assert len(PHOTOS) >= 150
    assert len({p.id for p in PHOTOS}) == len(PHOTOS)
    assert len({p.sha256 for p in PHOTOS}) == len(PHOTOS)
    assert sum(1 for p in PHOTOS if p.album) >= 150


def test_every_source_is_pinned_and_licensed() -> None:
    for name, source in SOURCES.items():
        assert source["kind"] in {"deb", "wheel", "sdist", "installed"}, name
        assert source["version"] and source["licence"], name
    assert {p.source for p in PHOTOS} == set(SOURCES)


def test_a_held_out_third_of_every_album_is_kept_apart() -> None:
    # A photo's split never changes once given (added photos are split among themselves, a relabelled photo keeps
    # its split), so an album's held-out share is a third to within a photo or two, not exactly.
    splits = Counter(p.split for p in PHOTOS)
    assert set(splits) == set(devset.SPLITS)
    for album in {p.album for p in PHOTOS}:
        members = [p for p in PHOTOS if p.album == album]
        held = sum(1 for p in members if p.split == "held-out")
        assert abs(3 * held - len(members)) <= 6, album


def test_albums_are_the_family_presets_and_people_have_faces() -> None:
    assert {p.album for p in PHOTOS} <= {None, "people", "pets", "animals", "food", "vehicles", "buildings", "nature"}
    assert all(p.face for p in PHOTOS if p.album == "people")
    assert sum(1 for p in PHOTOS if p.face is False) >= 100  # photos to count false positives on


def test_images_are_found_inside_a_qt_resource_bundle() -> None:
    def jpeg(size: tuple[int, int]) -> bytes:
        out = io.BytesIO()
        Image.new("RGB", size, (200, 10, 10)).save(out, format="JPEG")
        return out.getvalue()

    big, icon, other = jpeg((320, 240)), jpeg((32, 32)), jpeg((200, 400))
    bundle = b"qres\x00\x00\x00\x03" + b"".join(struct.pack(">I", len(b)) + b for b in (big, icon, other))
    assert devset.rcc_images(bundle + b"RIFF\x00\x00\x00\x00JUNK") == [big, other]


def test_the_photo_cache_name_is_stable_and_flat() -> None:
    photo = PHOTOS[0]
    path = devset.photo_path(photo, devset.cache_dir())
    assert path.parent.name == "photos" and "/" not in path.name


def test_the_score_counts_right_wrong_unsorted_and_detector_errors() -> None:
    def photo(i: int, album: str | None, face: bool | None) -> devset.Photo:
        return devset.Photo(id=f"s/{i}", source="s", member="m", album=album, face=face, split="dev", sha256=str(i))

    outcomes = [
        devset.Outcome(photo(1, "people", True), "group", 4, ()),  # a group photo is a photo of people
        devset.Outcome(photo(2, "people", True), None, 0, ()),  # missed face, unsorted
        devset.Outcome(photo(3, "nature", False), "animals", 0, ()),  # wrong album
        devset.Outcome(photo(4, "nature", False), "nature", 1, ()),  # right album, but a false face
        devset.Outcome(photo(5, None, None), "buildings", 2, ()),  # no definite album; ambiguous face: not counted
    ]
    s = devset.score(outcomes)
    assert (s["definite"], s["right"], s["wrong"], s["unsorted"]) == (4, 2, 1, 1)
    assert (s["no_album"], s["no_album_sorted"]) == (1, 1)
    assert (s["face_photos"], s["face_found"], s["people_album"]) == (2, 1, 1)
    assert s["false_positive_photos"] == ["s/4"] and (s["detected_photos"], s["detected_with_face"]) == (2, 1)
    assert "right   2  50.0%" in devset.render("dev", s, verbose=False)


def test_a_photo_is_read_from_a_source_distribution_already_in_the_cache(tmp_path: Path) -> None:
    member, data = "pkg-1.0/tests/images/me.jpg", b"\xff\xd8\xffjpeg bytes"
    (tmp_path / "sdists").mkdir()
    with tarfile.open(tmp_path / "sdists" / "some_pkg-1.0.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo(member)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    photo = devset.Photo(id="p/me", source="some-pkg", member=member, album="people", face=True, split="dev", sha256="")
    sources = {"some-pkg": {"kind": "sdist", "version": "1.0"}}
    assert devset._photo_bytes(photo, sources, tmp_path, {}) == data

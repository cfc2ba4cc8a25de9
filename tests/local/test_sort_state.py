"""The local sort's state (``photosort_local.localsort.state``): the journalled placement survives a kill -9 at
each step, counts equal members, and --link/--move place files as promised, across file systems too.

The kills are real: a child process places a photo and sends itself SIGKILL at the chosen step.
"""

from __future__ import annotations

import errno
import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from photosort.models import CollectionKind, ImageRecord, Membership, Status
from photosort_local.localsort.state import Mode, PlacementError, SortState

SHM = Path("/dev/shm")  # noqa: S108 - a tmpfs: the second file system for the cross-device tests


def _record(data: bytes, destination: str, albums: tuple[str, ...] = ("pets",), status: Status = Status.SORTED):
    now = datetime(2024, 5, 1, tzinfo=UTC)
    return ImageRecord(
        image_id=hashlib.sha256(destination.encode()).hexdigest()[:32],
        bucket="photos",
        source_key="incoming/" + destination.rsplit("/", 1)[-1],
        destination_key=destination,
        status=status,
        reason="test",
        sha256=hashlib.sha256(data).hexdigest(),
        memberships=tuple(Membership(album=a, kind=CollectionKind.ALBUM, label="Cat", confidence=90.0) for a in albums),
        created_at=now,
        updated_at=now,
    )


def _photo(folder: Path, name: str, size: int = 300_000) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(hashlib.sha256(name.encode()).digest() * (size // 32))
    return path


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from photosort.models import ImageRecord
    from photosort_local.localsort import state as st

    out, source, record_json, mode, step = sys.argv[1:6]
    def die(*_a, **_k):
        os.kill(os.getpid(), signal.SIGKILL)
    if step == "after-intent":
        st.SortState._place = die
    elif step == "after-place":
        st.SortState._finish = die
    elif step == "mid-copy":
        real = st.shutil.copyfile
        def half(src, dst):
            Path(dst).write_bytes(Path(src).read_bytes()[:1000])
            die()
        st.shutil.copyfile = half
    record = ImageRecord.model_validate_json(record_json)
    with st.SortState(Path(out)) as state:
        state.commit_photo(record, sha=record.sha256, path=Path(source), mode=st.Mode(mode))
    """
)


def _kill_during(out: Path, source: Path, record: ImageRecord, mode: Mode, step: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", KILLER, str(out), str(source), record.model_dump_json(), mode.value, step],
        check=False,
        capture_output=True,
        text=True,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr


@pytest.mark.parametrize(
    ("step", "mode", "placed"),
    [
        ("after-intent", Mode.COPY, False),
        ("mid-copy", Mode.COPY, False),
        ("after-place", Mode.COPY, True),
        ("after-intent", Mode.MOVE, False),
        ("after-place", Mode.MOVE, True),
        ("after-place", Mode.LINK, True),
    ],
)
def test_kill_at_each_step_then_recover(tmp_path: Path, step: str, mode: Mode, placed: bool) -> None:
    out = tmp_path / "out"
    source = _photo(tmp_path / "in", "cat.jpg")
    data = source.read_bytes()
    record = _record(data, "albums/pets/2024/cat-1234abcd.jpg", albums=("pets", "animals"))
    _kill_during(out, source, record, mode, step)

    with SortState(out) as state:
        finished, forgotten = state.recover()
        target = out / record.destination_key
        assert (finished, forgotten) == ((1, 0) if placed else (0, 1))
        assert state.check() == []  # no journal left, counters equal members
        assert not (out / ".photosort" / "tmp").exists()  # no half-written copy stays behind
        if placed:
            assert target.read_bytes() == data
            assert state.known(record.sha256 or "", str(source)) is not None
            assert {a.album: a.image_count for a in state.list_albums()} == {"pets": 1, "animals": 1}
        else:
            assert not target.exists()
            assert state.known(record.sha256 or "", str(source)) is None
            assert state.list_albums() == []
        # the original is gone only when a move really reached its place
        assert source.exists() is not (placed and mode is Mode.MOVE)
        if not placed:  # the next run sorts it again, once
            state.commit_photo(record, sha=record.sha256 or "", path=source, mode=mode)
        assert state.counts() == {"sorted": 1}
        assert [a.image_count for a in state.list_albums()] == [1, 1]
        assert state.check() == []


def test_copy_keeps_originals_and_link_shares_the_inode(tmp_path: Path) -> None:
    out = tmp_path / "out"
    copied = _photo(tmp_path / "in", "a.jpg")
    linked = _photo(tmp_path / "in", "b.jpg")
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (copied, linked)}
    with SortState(out) as state:
        a = state.commit_photo(
            _record(copied.read_bytes(), "unsorted/2024/a.jpg"), sha=_sha(copied), path=copied, mode=Mode.COPY
        )
        b = state.commit_photo(
            _record(linked.read_bytes(), "unsorted/2024/b.jpg"), sha=_sha(linked), path=linked, mode=Mode.LINK
        )
    assert (a.how, b.how) == ("copied", "linked")
    assert (out / "unsorted/2024/b.jpg").stat().st_ino == linked.stat().st_ino
    assert (out / "unsorted/2024/a.jpg").stat().st_ino != copied.stat().st_ino
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (copied, linked)} == before


def test_move_removes_the_original_only_once_it_is_in_place(tmp_path: Path) -> None:
    out = tmp_path / "out"
    source = _photo(tmp_path / "in", "a.jpg")
    data = source.read_bytes()
    with SortState(out) as state:
        placed = state.commit_photo(_record(data, "albums/pets/a.jpg"), sha=_sha(source), path=source, mode=Mode.MOVE)
    assert placed.how == "moved"
    assert not source.exists()
    assert (out / "albums/pets/a.jpg").read_bytes() == data


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _other_file_system(tmp_path: Path) -> Path:
    if not SHM.is_dir() or SHM.stat().st_dev == tmp_path.stat().st_dev or not os.access(SHM, os.W_OK):
        pytest.skip("no second file system here (/dev/shm); test_exdev_is_simulated covers the fallback")
    return SHM


@pytest.fixture
def shm_folder(tmp_path: Path):
    folder = _other_file_system(tmp_path) / f"photosort-test-{os.getpid()}-{tmp_path.name}"
    folder.mkdir()
    yield folder
    for path in sorted(folder.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    folder.rmdir()


def test_link_and_move_across_real_file_systems(tmp_path: Path, shm_folder: Path) -> None:
    """Originals on a tmpfs, --out on the disk: a link becomes a copy, a move a verified copy and a delete."""
    out = tmp_path / "out"
    linked = _photo(shm_folder, "a.jpg")
    moved = _photo(shm_folder, "b.jpg")
    data = moved.read_bytes()
    with SortState(out) as state:
        a = state.commit_photo(
            _record(linked.read_bytes(), "unsorted/a.jpg"), sha=_sha(linked), path=linked, mode=Mode.LINK
        )
        b = state.commit_photo(_record(data, "unsorted/b.jpg"), sha=_sha(moved), path=moved, mode=Mode.MOVE)
        assert state.check() == []
    assert (a.how, b.how) == ("copied", "moved")
    assert linked.exists() and (out / "unsorted/a.jpg").stat().st_ino != linked.stat().st_ino
    assert not moved.exists() and (out / "unsorted/b.jpg").read_bytes() == data


def test_exdev_is_simulated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same fallbacks where no second file system exists: link and rename refuse with EXDEV."""

    def cross_device(*_args: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", cross_device)
    monkeypatch.setattr(Path, "rename", cross_device)
    out = tmp_path / "out"
    linked = _photo(tmp_path / "in", "a.jpg")
    moved = _photo(tmp_path / "in", "b.jpg")
    data = moved.read_bytes()
    with SortState(out) as state:
        a = state.commit_photo(
            _record(linked.read_bytes(), "unsorted/a.jpg"), sha=_sha(linked), path=linked, mode=Mode.LINK
        )
        b = state.commit_photo(_record(data, "unsorted/b.jpg"), sha=_sha(moved), path=moved, mode=Mode.MOVE)
    assert (a.how, b.how) == ("copied", "moved")
    assert linked.exists() and not moved.exists()
    assert (out / "unsorted/b.jpg").read_bytes() == data


def test_a_different_file_at_the_destination_is_never_overwritten(tmp_path: Path) -> None:
    out = tmp_path / "out"
    source = _photo(tmp_path / "in", "a.jpg")
    (out / "unsorted").mkdir(parents=True)
    (out / "unsorted/a.jpg").write_bytes(b"someone else's file")
    with SortState(out) as state, pytest.raises(PlacementError, match="different file"):
        state.commit_photo(
            _record(source.read_bytes(), "unsorted/a.jpg"), sha=_sha(source), path=source, mode=Mode.MOVE
        )
    assert source.exists()
    assert (out / "unsorted/a.jpg").read_bytes() == b"someone else's file"


def test_a_failure_sorted_again_leaves_its_old_place(tmp_path: Path) -> None:
    out = tmp_path / "out"
    source = _photo(tmp_path / "in", "a.jpg")
    data, sha = source.read_bytes(), _sha(source)
    with SortState(out) as state:
        state.commit_photo(
            _record(data, "failed/a.jpg", albums=(), status=Status.FAILED), sha=sha, path=source, mode=Mode.MOVE
        )
        assert source.exists()  # a failed photo is copied, never moved: it is tried again
        assert state.known(sha, str(source)) is None
        state.forget_failed(sha, str(source), "albums/pets/a.jpg")
        state.commit_photo(_record(data, "albums/pets/a.jpg"), sha=sha, path=source, mode=Mode.COPY)
        assert state.counts() == {"sorted": 1}
        assert state.check() == []
    assert not (out / "failed/a.jpg").exists()
    assert (out / "albums/pets/a.jpg").read_bytes() == data


def test_bytes_recorded_only_as_a_duplicate_are_not_known_under_another_path(tmp_path: Path) -> None:
    """A kill can record the duplicate copy before its owner: the owner's path must still be sorted."""
    out = tmp_path / "out"
    owner = _photo(tmp_path / "in", "a.jpg")
    copy = tmp_path / "in" / "copy-of-a.jpg"
    copy.write_bytes(owner.read_bytes())
    sha = _sha(owner)
    with SortState(out) as state:
        duplicate = _record(copy.read_bytes(), "duplicates/copy-of-a.jpg", albums=(), status=Status.DUPLICATE)
        state.commit_photo(duplicate, sha=sha, path=copy.resolve(), mode=Mode.COPY)
        assert state.known(sha, str(copy.resolve())) is not None  # its own row
        assert state.known(sha, str(owner.resolve())) is None  # the owner is sorted, not skipped
        state.commit_photo(
            _record(owner.read_bytes(), "albums/pets/a.jpg"), sha=sha, path=owner.resolve(), mode=Mode.COPY
        )
        known = state.known(sha, str(tmp_path / "in" / "third.jpg"))
        assert known is not None and known[1] == str(owner.resolve())

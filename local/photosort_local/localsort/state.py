"""The local sort's state in ``OUT/.photosort/state.sqlite``: what was sorted where, albums and their counts.

One row per photo (keyed by its bytes' SHA-256 and its source), its album memberships, and one counter per
album, all written in one SQLite transaction, so counts always equal members. Placing a file in ``--out`` is
journalled: the intent (with the full record) is committed before the file is written, and the photo row after
it, in the same transaction that deletes the intent. After a kill -9 at any moment, :meth:`SortState.recover`
finishes every intent whose file is in place and forgets the others (their photos are sorted again), so nothing
is lost and nothing is recorded twice.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from photosort.models import AlbumSummary, CollectionKind, ImageRecord, Status

STATE_DIR = ".photosort"  # the same name as photosort_local.cli.inputs.STATE_DIR
STATE_FILE = "state.sqlite"
TMP_DIR = "tmp"
CHUNK = 1 << 20

SCHEMA = """
CREATE TABLE IF NOT EXISTS photos (
    sha256 TEXT NOT NULL,
    source TEXT NOT NULL,
    key TEXT NOT NULL,
    status TEXT NOT NULL,
    destination TEXT NOT NULL,
    record TEXT NOT NULL,
    sorted_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (sha256, source)
);
CREATE INDEX IF NOT EXISTS photos_by_destination ON photos (destination);
CREATE TABLE IF NOT EXISTS members (
    album TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    source TEXT NOT NULL,
    destination TEXT NOT NULL,
    label TEXT NOT NULL,
    confidence REAL NOT NULL,
    taken_at TEXT NOT NULL,
    PRIMARY KEY (album, sha256, source)
);
CREATE TABLE IF NOT EXISTS albums (
    album TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    image_count INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS journal (
    destination TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL,
    source TEXT NOT NULL,
    path TEXT NOT NULL,
    mode TEXT NOT NULL,
    record TEXT NOT NULL
);
"""


class Mode(StrEnum):
    """How a photo lands in ``--out``: a copy (the default), a hard link, or moved (the original is gone)."""

    COPY = "copy"
    LINK = "link"
    MOVE = "move"


class PlacementError(RuntimeError):
    """A photo could not be written to ``--out`` (another file holds its destination, or the disk failed)."""


@dataclass(frozen=True)
class Placed:
    destination: str
    how: str  # copied, linked, moved (what really happened: a link across file systems is a copy)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def state_path(out: Path) -> Path:
    return out / STATE_DIR / STATE_FILE


class SortState:
    """The SQLite state of one ``--out`` folder. Single writer: the process running ``local sort``."""

    def __init__(self, out: Path, *, create: bool = True) -> None:
        self.out = out.resolve()
        path = state_path(self.out)
        if not create and not path.is_file():
            raise FileNotFoundError(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = path.parent / TMP_DIR
        self._db = sqlite3.connect(path, isolation_level=None)  # transactions are explicit
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a committed transaction survives kill -9
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> SortState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- reads ------------------------------------------------------------------------------------------------
    def known(self, sha256: str, source: str) -> tuple[ImageRecord, str] | None:
        """(record, source path) of bytes already sorted: this file's own row, else the row of the file that
        owns the bytes under another path. Failed photos are not known (they are tried again), and neither are
        bytes recorded only as duplicates of elsewhere (their owner was never recorded, e.g. after a kill)."""
        row = self._db.execute(
            "SELECT record, source FROM photos WHERE sha256 = ? AND status != ? "
            "AND (source = ? OR status != ?) ORDER BY source = ? DESC, sorted_at LIMIT 1",
            (sha256, Status.FAILED.value, source, Status.DUPLICATE.value, source),
        ).fetchone()
        return (ImageRecord.model_validate_json(row[0]), row[1]) if row else None

    def complete_move(self, record: ImageRecord, source: Path) -> None:
        """Delete an original whose move stopped after its copy was in place (and recorded)."""
        with contextlib.suppress(PlacementError, OSError):
            target = self._target(record.destination_key)
            same = source.is_file() and target.is_file() and not source.samefile(target)
            if same and sha256_file(target) == sha256_file(source):
                source.unlink()

    def records(self) -> Iterator[tuple[str, ImageRecord]]:
        """(source path, record) of every photo, in the order they were sorted."""
        for source, record in self._db.execute("SELECT source, record FROM photos ORDER BY sorted_at"):
            yield source, ImageRecord.model_validate_json(record)

    def counts(self) -> dict[str, int]:
        return dict(self._db.execute("SELECT status, COUNT(*) FROM photos GROUP BY status").fetchall())

    def list_albums(self) -> list[AlbumSummary]:
        rows = self._db.execute("SELECT album, kind, image_count FROM albums ORDER BY album").fetchall()
        return [AlbumSummary(album=a, kind=CollectionKind(k), image_count=n) for a, k, n in rows]

    def album_members(self, album: str) -> list[dict[str, Any]]:
        """An album's photos, newest first, as AlbumEntry fields."""
        rows = self._db.execute(
            "SELECT m.destination, m.label, m.confidence, m.taken_at, p.record FROM members m "
            "JOIN photos p ON p.sha256 = m.sha256 AND p.source = m.source WHERE m.album = ? ORDER BY m.taken_at DESC",
            (album,),
        ).fetchall()
        return [
            {
                "image_id": ImageRecord.model_validate_json(r).image_id,
                "destination_key": d,
                "label": lb,
                "confidence": c,
                "taken_at": t,
            }
            for d, lb, c, t, r in rows
        ]

    def check(self) -> list[str]:
        """Inconsistencies (empty when the state is sound): counters against members, journal leftovers."""
        problems = [
            f"album {album}: counter {count} but {members} member(s)"
            for album, count, members in self._db.execute(
                "SELECT a.album, a.image_count, (SELECT COUNT(*) FROM members m WHERE m.album = a.album) FROM albums a"
            )
            if count != members
        ]
        problems += [f"unfinished placement of {d}" for (d,) in self._db.execute("SELECT destination FROM journal")]
        return problems

    # -- the journalled write of one photo ------------------------------------------------------------------
    def commit_photo(self, record: ImageRecord, *, sha: str, path: Path, mode: Mode) -> Placed:
        """Place the file at ``path`` (whose bytes hash to ``sha``) at the record's destination in ``--out``
        and record it: the intent first, then the file, then the photo row (which ends the intent)."""
        destination = record.destination_key
        source = path
        owner = self._db.execute(
            "SELECT sha256 FROM photos WHERE destination = ? AND sha256 != ?", (destination, sha)
        ).fetchone()
        if owner is not None:
            raise PlacementError(f"{destination} already holds another photo ({owner[0][:8]})")
        effective = Mode.COPY if record.status is Status.FAILED else mode  # keep a failed photo's original
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO journal (destination, sha256, source, path, mode, record) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (destination, sha, str(path), str(path), effective.value, record.model_dump_json()),
            )
        how = self._place(source, destination, sha, effective)
        self._finish(destination)
        return Placed(destination, how)

    def _target(self, destination: str) -> Path:
        target = (self.out / destination).resolve()
        if not target.is_relative_to(self.out) or target.is_relative_to(self.out / STATE_DIR):
            raise PlacementError(f"refusing to write {destination!r} outside {self.out}")
        return target

    def _place(self, source: Path, destination: str, sha: str, mode: Mode) -> str:
        target = self._target(destination)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            if sha256_file(target) == sha:
                if mode is Mode.MOVE and source.exists() and not source.samefile(target):
                    source.unlink()  # the same bytes are in place already: the move is done
                return "kept"
            raise PlacementError(f"{destination} already holds a different file; it was left as it is")
        if mode is Mode.MOVE:
            try:
                source.rename(target)
                return "moved"
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
            self._copy(source, target, sha)  # across file systems: copy, verify, then delete the original
            source.unlink()
            return "moved"
        if mode is Mode.LINK:
            staged = self._staging()
            try:
                os.link(source, staged)
            except OSError as exc:  # another file system, or one without hard links: copy instead
                if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES):
                    raise
                self._copy(source, target, sha)
                return "copied"
            staged.replace(target)
            return "linked"
        self._copy(source, target, sha)
        return "copied"

    def _staging(self) -> Path:
        self.tmp.mkdir(parents=True, exist_ok=True)
        return self.tmp / uuid.uuid4().hex

    def _copy(self, source: Path, target: Path, sha: str) -> None:
        """Copy to a staging file on --out's file system, check its hash, then rename it into place."""
        staged = self._staging()
        try:
            shutil.copyfile(source, staged)
            if sha256_file(staged) != sha:
                raise PlacementError(f"{source} changed while it was being sorted; it was not written")
            with staged.open("rb") as f:
                os.fsync(f.fileno())
            staged.replace(target)
        finally:
            staged.unlink(missing_ok=True)

    def _finish(self, destination: str) -> None:
        """Turn a journal intent whose file is in place into the photo's row, memberships and counts."""
        with self._transaction() as db:
            row = db.execute(
                "SELECT sha256, path, record FROM journal WHERE destination = ?", (destination,)
            ).fetchone()
            if row is None:
                return
            sha, source, record_json = row
            record = ImageRecord.model_validate_json(record_json)
            self._forget(db, sha, source)
            db.execute(
                "INSERT INTO photos (sha256, source, key, status, destination, record) VALUES (?, ?, ?, ?, ?, ?)",
                (sha, source, record.source_key, record.status.value, destination, record_json),
            )
            when = record.sort_time.isoformat()
            for m in record.memberships:
                db.execute(
                    "INSERT INTO members VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (m.album, sha, source, destination, m.label, m.confidence, when),
                )
                db.execute(
                    "INSERT INTO albums VALUES (?, ?, 1) "
                    "ON CONFLICT (album) DO UPDATE SET image_count = image_count + 1",
                    (m.album, m.kind.value),
                )
            db.execute("DELETE FROM journal WHERE destination = ?", (destination,))

    def _forget(self, db: sqlite3.Connection, sha: str, source: str) -> None:
        """Remove an earlier row of the same photo (a failure tried again), with its memberships and counts."""
        old = db.execute("SELECT destination FROM photos WHERE sha256 = ? AND source = ?", (sha, source)).fetchone()
        if old is None:
            return
        for (album,) in db.execute(
            "SELECT album FROM members WHERE sha256 = ? AND source = ?", (sha, source)
        ).fetchall():
            db.execute("UPDATE albums SET image_count = image_count - 1 WHERE album = ?", (album,))
        db.execute("DELETE FROM members WHERE sha256 = ? AND source = ?", (sha, source))
        db.execute("DELETE FROM photos WHERE sha256 = ? AND source = ?", (sha, source))

    def forget_failed(self, sha: str, source: str, new_destination: str) -> None:
        """Before a failed photo is sorted again: drop its row, and its file under failed/ if it moves."""
        row = self._db.execute(
            "SELECT destination FROM photos WHERE sha256 = ? AND source = ? AND status = ?",
            (sha, source, Status.FAILED.value),
        ).fetchone()
        if row is None or row[0] == new_destination:
            return
        with self._transaction() as db:
            self._forget(db, sha, source)
        with contextlib.suppress(OSError, PlacementError):
            self._target(row[0]).unlink(missing_ok=True)

    # -- recovery after a kill ------------------------------------------------------------------------------
    def recover(self) -> tuple[int, int]:
        """Finish the intents whose file is in place, forget the others; returns (finished, forgotten)."""
        finished = forgotten = 0
        for destination, sha in self._db.execute("SELECT destination, sha256 FROM journal").fetchall():
            target = self._target(destination)
            if target.is_file() and sha256_file(target) == sha:
                self._finish(destination)
                finished += 1
            else:
                with self._transaction() as db:
                    db.execute("DELETE FROM journal WHERE destination = ?", (destination,))
                forgotten += 1
        if self.tmp.is_dir():
            shutil.rmtree(self.tmp)  # staging files of copies that never reached their place
        return finished, forgotten

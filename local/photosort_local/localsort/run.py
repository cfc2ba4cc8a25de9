"""The local sort job: every input hashed, known bytes skipped, the rest handed to the least busy worker through
a bounded window, and each photo placed in ``--out`` and recorded as soon as its execution ends.

A copy of bytes that are in flight waits until their photo is recorded, then is known like any other (reported
as a duplicate, not written again); if that photo failed, the copy is sorted in its place. Two executions of
the same bytes never run at once, so none waits on the other's claim (see ``Repository.claim``).

Memory is bounded by the window (``jobs x WINDOW`` photos in flight), not by the library: nothing per photo is
kept once its outcome has been emitted.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from photosort.models import ImageRecord, Status
from photosort_local import report
from photosort_local.localsort.state import Mode, PlacementError, SortState, sha256_file
from photosort_local.localsort.workers import STALL_TIMEOUT, Pool, Task, start_pool

if TYPE_CHECKING:
    from photosort_local.cli.inputs import Upload
    from photosort_local.localsort.workers import Result

WINDOW = 3  # photos in flight per worker: enough to overlap one photo's upload with another's execution
AHEAD = 20_000  # inputs hashed ahead at most while the workers start (a path and a hash each: a few MB)
SKIPPED = "skipped"


@dataclass
class Summary:
    """What one run did."""

    statuses: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    how: Counter[str] = field(default_factory=Counter)  # copied, linked, moved, kept
    skipped: int = 0
    recovered: int = 0
    elapsed: float = 0.0

    @property
    def processed(self) -> int:
        return sum(self.statuses.values())

    def add(self, outcome: report.Outcome, *, skipped: bool) -> None:
        if skipped:
            self.skipped += 1
            return
        self.statuses[outcome.status] += 1
        if outcome.status == Status.REJECTED.value:
            self.rejected[outcome.reason.split(":", 1)[0]] += 1

    def text(self) -> str:
        order = ("sorted", "unsorted", "duplicate", "rejected", "failed")
        parts = []
        for status in order:
            n = self.statuses.get(status, 0)
            if not n:
                continue
            if status == "rejected":
                reasons = ", ".join(f"{reason} {k}" for reason, k in sorted(self.rejected.items()))
                parts.append(f"{n} rejected ({reasons})")
            else:
                parts.append(f"{n} {status}")
        done = ", ".join(parts) or "nothing new"
        if self.skipped:
            done += f"; {self.skipped} already sorted (skipped)"
        rate = self.processed / self.elapsed if self.elapsed > 0 else 0.0
        return f"{done}. {self.processed} photo(s) in {self.elapsed:.1f} s ({rate:.1f} photos/s)"


Emit = Callable[[report.Outcome], None]


class _InOrder:
    """Hands outcomes to ``emit`` in input order, holding back only those that finished early."""

    def __init__(self, emit: Emit) -> None:
        self._emit = emit
        self._next = 0
        self._held: dict[int, report.Outcome] = {}

    def put(self, seq: int, outcome: report.Outcome) -> None:
        self._held[seq] = outcome
        while self._next in self._held:
            self._emit(self._held.pop(self._next))
            self._next += 1


def _failed(upload: Upload, reason: str, *, uploaded: bool) -> report.Outcome:
    return report.Outcome(
        source=upload.source,
        key=upload.key,
        status=Status.FAILED.value,
        destination=upload.key if uploaded else None,
        reason=reason,
    )


def _known_outcome(upload: Upload, record: ImageRecord, path: str) -> report.Outcome:
    """The outcome of bytes sorted before: the same file, or a copy of it found under another path."""
    if path == str(upload.path.resolve()):
        return report.Outcome.from_record(upload.source, record)
    return report.Outcome(
        source=upload.source,
        key=upload.key,
        status=Status.DUPLICATE.value,
        destination=None,
        reason=f"same bytes as {path}, sorted earlier to {record.destination_key}; not written again",
        duplicate_of=record.image_id,
    )


class _Hashed:
    """The inputs in order, each with its bytes' hash (or why they could not be read), hashed on demand or
    ahead of time (:meth:`ahead`) while there is nothing else to do."""

    def __init__(self, uploads: Sequence[Upload]) -> None:
        self._todo = iter(enumerate(uploads))
        self._done: deque[tuple[int, Upload, str | OSError]] = deque()

    def next(self) -> tuple[int, Upload, str | OSError] | None:
        if self._done:
            return self._done.popleft()
        return self._hash(next(self._todo, None))

    def ahead(self) -> bool:
        """Hash one more input ahead; False when there is none left (or enough are waiting)."""
        if len(self._done) >= AHEAD:
            return False
        found = self._hash(next(self._todo, None))
        if found is None:
            return False
        self._done.append(found)
        return True

    @staticmethod
    def _hash(item: tuple[int, Upload] | None) -> tuple[int, Upload, str | OSError] | None:
        if item is None:
            return None
        seq, upload = item
        try:
            return seq, upload, sha256_file(upload.path)
        except OSError as exc:
            return seq, upload, exc


@dataclass
class SortJob:
    """One ``local sort`` run into ``out``."""

    out: Path
    parameters: dict[str, str]
    jobs: int
    mode: Mode = Mode.COPY
    window: int = WINDOW
    progress: Callable[[int], None] = lambda _n: None
    summary: Summary = field(default_factory=Summary)
    _pool: Pool | None = None
    _inflight: list[int] = field(default_factory=list)
    _tasks: dict[int, tuple[Upload, str]] = field(default_factory=dict)
    _copies: dict[str, list[tuple[int, Upload]]] = field(default_factory=dict)  # sha in flight -> copies waiting
    _released: deque[tuple[int, Upload, str]] = field(default_factory=deque)  # copies whose original is done
    _inputs: _Hashed = field(default_factory=lambda: _Hashed(()))

    def run(self, uploads: Sequence[Upload], emit: Emit) -> Summary:
        started = time.monotonic()
        ordered = _InOrder(emit)
        with SortState(self.out) as state:
            self.summary.recovered, _forgotten = state.recover()
            self._inputs = _Hashed(uploads)
            try:
                while (item := self._inputs.next()) is not None:
                    self._one(state, *item, ordered)
                    self._dispatch_released(state, ordered)
                while any(self._inflight) or self._released:
                    if any(self._inflight):
                        self._collect(state, ordered)
                    self._dispatch_released(state, ordered)
            finally:
                if self._pool is not None:
                    self._pool.close()
                    self._pool = None
        self.summary.elapsed = time.monotonic() - started
        return self.summary

    def _one(self, state: SortState, seq: int, upload: Upload, sha: str | OSError, ordered: _InOrder) -> None:
        if isinstance(sha, OSError):
            exc = sha
            self._done(
                ordered,
                seq,
                _failed(upload, f"could not read {upload.source}: {exc.strerror or exc}", uploaded=False),
                skipped=False,
            )
            return
        self._dispatch(state, seq, upload, sha, ordered, released=False)

    def _dispatch(
        self, state: SortState, seq: int, upload: Upload, sha: str, ordered: _InOrder, *, released: bool
    ) -> None:
        """Report known bytes, hold back a copy of bytes in flight, or hand the photo to the least busy worker
        once one has room (no worker waits idle behind another's large photo)."""
        source = str(upload.path.resolve())
        known = state.known(sha, source)
        if known is not None:
            record, path = known
            if self.mode is Mode.MOVE and path == source:
                state.complete_move(record, upload.path)  # an earlier move stopped between copy and delete
            # a copy held back in this run is this run's duplicate; bytes known before it are already sorted
            self._done(ordered, seq, _known_outcome(upload, record, path), skipped=not released)
            return
        if sha in self._copies:
            self._copies[sha].append((seq, upload))
            return
        pool = self._start()
        while min(self._inflight) >= self.window:
            if not pool.ready and self._inputs.ahead():
                continue  # the stacks are still deploying: hash the next inputs meanwhile
            self._collect(state, ordered)
        worker = min(range(pool.jobs), key=self._inflight.__getitem__)
        self._tasks[seq] = (upload, sha)
        self._copies[sha] = []
        self._inflight[worker] += 1
        pool.submit(worker, Task(seq=seq, key=upload.key, path=str(upload.path), sha256=sha))

    def _dispatch_released(self, state: SortState, ordered: _InOrder) -> None:
        while self._released:
            seq, upload, sha = self._released.popleft()
            self._dispatch(state, seq, upload, sha, ordered, released=True)

    def _start(self) -> Pool:
        if self._pool is None:  # only when there is something to sort: a re-run with nothing new starts no stack
            self._pool = start_pool(self.jobs, self.parameters)
            self._inflight = [0] * self._pool.jobs
        return self._pool

    def _collect(self, state: SortState, ordered: _InOrder) -> None:
        if self._pool is None:
            return
        deadline = time.monotonic() + STALL_TIMEOUT + 60
        while True:
            found = self._pool.results(timeout=1.0)
            if found:
                break
            if time.monotonic() > deadline and self._pool.ready:  # a pool still starting has its own deadline
                raise TimeoutError(f"no photo finished in {STALL_TIMEOUT + 60:.0f} s: the embedded stacks are stuck")
        for worker, result in found:
            self._inflight[worker] -= 1
            self._handle(state, result, ordered)

    def _handle(self, state: SortState, result: Result, ordered: _InOrder) -> None:
        upload, sha = self._tasks.pop(result.seq)
        try:
            self._record(state, result, upload, sha, ordered)
        finally:  # recorded or not, its copies go on: known now, or sorted in its place
            self._released.extend((seq, copy, sha) for seq, copy in self._copies.pop(sha))

    def _record(self, state: SortState, result: Result, upload: Upload, sha: str, ordered: _InOrder) -> None:
        if result.record is None:
            self._done(ordered, result.seq, _failed(upload, result.error or "failed", uploaded=True), skipped=False)
            return
        record = ImageRecord.model_validate_json(result.record)
        if record.sha256 and record.sha256 != sha:
            outcome = _failed(upload, f"{upload.source} changed while it was being sorted", uploaded=True)
            self._done(ordered, result.seq, outcome, skipped=False)
            return
        path = upload.path.resolve()
        try:
            state.forget_failed(sha, str(path), record.destination_key)
            placed = state.commit_photo(record, sha=sha, path=path, mode=self.mode)
        except (PlacementError, OSError) as exc:
            self._done(ordered, result.seq, _failed(upload, f"not written: {exc}", uploaded=True), skipped=False)
            return
        self.summary.how[placed.how] += 1
        self._done(ordered, result.seq, report.Outcome.from_record(upload.source, record), skipped=False)

    def _done(self, ordered: _InOrder, seq: int, outcome: report.Outcome, *, skipped: bool) -> None:
        self.summary.add(outcome, skipped=skipped)
        ordered.put(seq, outcome)
        self.progress(1)

"""How the local sort job hands photos to its workers, with a scripted pool in place of the stacks: the least
busy worker gets the next photo, and a copy of bytes in flight waits for their photo instead of racing it.

The stacks themselves are exercised end to end in ``tests/cli/test_local_sort*.py``; here the pool answers
when the test says so, so the order of events is exact.
"""

from __future__ import annotations

import hashlib
from collections import deque
from datetime import UTC, datetime
from pathlib import Path

import pytest

from photosort.models import CollectionKind, ImageRecord, Membership, Status
from photosort_local.cli.inputs import find_inputs
from photosort_local.localsort import run as sort_run
from photosort_local.localsort.state import SortState
from photosort_local.localsort.workers import Result, Task


class ScriptedPool:
    """``jobs`` workers that finish a task only when the test (or ``auto``) says so."""

    def __init__(self, jobs: int, *, fail: set[str] = frozenset(), auto: bool = True) -> None:
        self.jobs = jobs
        self.submitted: list[tuple[int, Task]] = []
        self.running: dict[int, deque[Task]] = {w: deque() for w in range(jobs)}
        self.concurrent: list[list[str]] = []  # the shas running at each submit
        self.fail = fail  # source names whose execution fails
        self.auto = auto
        self.closed = False
        self.starting = 0  # how many times ``ready`` answers False before the workers are up

    @property
    def ready(self) -> bool:
        if self.starting:
            self.starting -= 1
            return False
        return True

    def submit(self, worker: int, task: Task) -> None:
        self.submitted.append((worker, task))
        self.running[worker].append(task)
        self.concurrent.append([t.sha256 for q in self.running.values() for t in q])

    def results(self, timeout: float) -> list[tuple[int, Result]]:
        del timeout
        # the slowest worker is 0: it finishes only when nothing else runs (a large photo, say)
        for worker in sorted(self.running, key=lambda w: (w == 0, w)):
            if self.running[worker] and (worker != 0 or not any(self.running[w] for w in self.running if w)):
                task = self.running[worker].popleft()
                return [(worker, self._result(task))]
        raise AssertionError("results() called with nothing running")

    def _result(self, task: Task) -> Result:
        name = Path(task.path).name
        if name in self.fail:
            return Result(task.seq, None, "States.TaskFailed: scripted")
        now = datetime(2026, 12, 3, tzinfo=UTC)
        record = ImageRecord(
            image_id=hashlib.sha256(task.key.encode()).hexdigest()[:32],
            bucket="photos",
            source_key=task.key,
            destination_key="albums/pets/" + task.key.removeprefix("incoming/"),
            status=Status.SORTED,
            reason="scripted",
            sha256=task.sha256,
            memberships=(Membership(album="pets", kind=CollectionKind.ALBUM, label="Cat", confidence=90.0),),
            created_at=now,
            updated_at=now,
        )
        return Result(task.seq, record.model_dump_json(), None)

    def close(self) -> None:
        self.closed = True


def _job(tmp_path: Path, pool: ScriptedPool, monkeypatch: pytest.MonkeyPatch, window: int = 2) -> sort_run.SortJob:
    monkeypatch.setattr(sort_run, "start_pool", lambda jobs, parameters: pool)
    return sort_run.SortJob(out=tmp_path / "out", parameters={}, jobs=pool.jobs, window=window)


def _files(root: Path, names_and_bytes: list[tuple[str, bytes]]) -> list:
    root.mkdir(parents=True)
    for name, data in names_and_bytes:
        (root / name).write_bytes(data)
    return find_inputs([str(root)])


def test_a_busy_worker_does_not_hold_back_the_others(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pool = ScriptedPool(2)
    uploads = _files(tmp_path / "in", [(f"p{i:02d}.jpg", f"photo {i}".encode()) for i in range(12)])
    outcomes: list = []
    summary = _job(tmp_path, pool, monkeypatch).run(uploads, outcomes.append)

    assert summary.statuses["sorted"] == 12 and pool.closed
    assert [o.source for o in outcomes] == [u.source for u in uploads]  # still reported in input order
    to = [worker for worker, _task in pool.submitted]
    # worker 0 is stuck on its first photos while worker 1 keeps finishing: every later photo goes to 1
    # (routing by hash would have sent about half of them to 0, each waiting for 0's window to open)
    assert to[:2] == [0, 1] and to.count(0) <= 2, to
    assert not any(pool.running.values())


def test_copies_of_bytes_in_flight_wait_for_their_photo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pool = ScriptedPool(2)
    same = b"the same bytes"
    uploads = _files(
        tmp_path / "in", [("a.jpg", same), ("b.jpg", same), ("c.jpg", b"other"), ("d.jpg", same), ("e.jpg", b"x")]
    )
    outcomes: list = []
    summary = _job(tmp_path, pool, monkeypatch, window=3).run(uploads, outcomes.append)

    sha = hashlib.sha256(same).hexdigest()
    assert [t.sha256 for _w, t in pool.submitted].count(sha) == 1  # one execution for the three copies
    assert all(running.count(sha) <= 1 for running in pool.concurrent)
    by_name = {Path(o.source).name: o for o in outcomes}
    assert [Path(o.source).name for o in outcomes] == ["a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg"]
    assert by_name["a.jpg"].status == "sorted"
    for name in ("b.jpg", "d.jpg"):
        assert by_name[name].status == "duplicate" and by_name[name].destination is None
        assert by_name[name].reason.startswith(f"same bytes as {tmp_path / 'in' / 'a.jpg'}")
    # they are this run's duplicates, not photos an earlier run sorted
    assert summary.statuses["duplicate"] == 2 and summary.skipped == 0
    assert "2 duplicate" in summary.text()


def test_a_copy_is_sorted_in_place_of_a_failed_photo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pool = ScriptedPool(2, fail={"a.jpg"})
    same = b"the same bytes"
    uploads = _files(tmp_path / "in", [("a.jpg", same), ("b.jpg", same), ("c.jpg", same)])
    outcomes: list = []
    summary = _job(tmp_path, pool, monkeypatch).run(uploads, outcomes.append)

    assert [Path(t.path).name for _w, t in pool.submitted] == ["a.jpg", "b.jpg"]  # c waits for b, then is known
    assert [o.status for o in outcomes] == ["failed", "sorted", "duplicate"]
    assert summary.statuses == {"failed": 1, "sorted": 1, "duplicate": 1}
    with SortState(tmp_path / "out") as state:
        assert state.known(hashlib.sha256(same).hexdigest(), str(tmp_path / "in" / "c.jpg")) is not None
        assert state.check() == []


def test_a_re_run_reports_known_bytes_as_already_sorted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    uploads = _files(tmp_path / "in", [("a.jpg", b"one"), ("b.jpg", b"one"), ("c.jpg", b"two")])
    _job(tmp_path, ScriptedPool(2), monkeypatch).run(uploads, lambda _o: None)

    again = ScriptedPool(2)
    summary = _job(tmp_path, again, monkeypatch).run(uploads, lambda _o: None)
    assert again.submitted == [] and summary.skipped == 3 and summary.processed == 0


def test_inputs_are_hashed_ahead_while_the_stacks_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pool = ScriptedPool(2)
    pool.starting = 3
    uploads = _files(tmp_path / "in", [(f"p{i:02d}.jpg", f"photo {i}".encode()) for i in range(8)])
    hashed: list[str] = []
    real_hash = sort_run.sha256_file

    def counting(path: Path) -> str:
        hashed.append(path.name)
        if path.name == "p05.jpg":  # hashed ahead too: its error is reported in its turn
            raise PermissionError(13, "Permission denied")
        return real_hash(path)

    monkeypatch.setattr(sort_run, "sha256_file", counting)
    first_results: list[int] = []
    results = pool.results

    def watched(timeout: float) -> list:
        if not first_results:
            first_results.append(len(hashed))
        return results(timeout)

    monkeypatch.setattr(pool, "results", watched)
    outcomes: list = []
    summary = _job(tmp_path, pool, monkeypatch, window=1).run(uploads, outcomes.append)

    # two photos fill the two windows, the third waits for room, and the next three are hashed while the
    # workers say they are starting
    assert first_results == [6]
    assert hashed == [u.path.name for u in uploads]  # each input hashed once, in order
    assert [o.source for o in outcomes] == [u.source for u in uploads]
    unreadable = next(o for o in outcomes if o.source.endswith("p05.jpg"))
    assert unreadable.status == "failed" and "could not read" in unreadable.reason
    assert "p05.jpg" not in [Path(t.path).name for _w, t in pool.submitted]
    assert summary.processed == 8 and not any(pool.running.values())

"""The sort worker reads each finished photo's record from moto's DynamoDB backend directly
(``workers.read_record``): it must be exactly the record a GetItem through the repository returns."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from photosort.repository import Repository
from photosort_local.cli.inputs import find_inputs
from photosort_local.localsort import run as sort_run
from photosort_local.localsort import workers


def test_the_worker_reads_the_record_a_get_item_returns(
    tmp_path: Path, copy_sample, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("chelsea", "grace_hopper", "coffee"):  # a pet, a face, an unsorted photo
        copy_sample(name, tmp_path / "in" / f"{name}.png")
    (tmp_path / "in" / "notes.jpg").write_text("not a photo\n")  # a rejected record too
    job = sort_run.SortJob(out=tmp_path / "out", parameters={"ClassifierBackend": "local"}, jobs=1)
    compared: list[Any] = []
    original = workers.read_record

    def checked(ddb_backend: Any, table: str, image_id: str) -> Any:
        ours = original(ddb_backend, table, image_id)
        stack = job._pool._worker._stack  # type: ignore[union-attr]
        theirs = Repository(stack.client("dynamodb"), table).get(image_id)
        assert ours == theirs
        compared.append(ours)
        return ours

    monkeypatch.setattr(workers, "read_record", checked)
    summary = job.run(find_inputs([str(tmp_path / "in")]), lambda _o: None)

    assert summary.processed == 4 and not summary.statuses.get("failed")
    found = [r for r in compared if r is not None]
    assert len(found) == 4
    assert {r.status.value for r in found} >= {"rejected", "sorted"}
    assert any(r.faces for r in found) and any(r.labels for r in found)  # what the packed, binary part holds


def test_a_worker_that_cannot_start_fails_the_run_once_asked(tmp_path: Path) -> None:
    """The pool returns while its workers deploy; a stack that cannot deploy is reported by ``ready`` (or by
    the first wait for results), not lost."""
    from photosort_local.localsort.workers import ProcessPool, Task, WorkerError, start_pool

    pool = start_pool(2, {"ClassifierBackend": "no-such-backend"})
    assert isinstance(pool, ProcessPool)
    try:
        pool.submit(0, Task(seq=0, key="incoming/a.jpg", path=str(tmp_path / "a.jpg"), sha256="0" * 64))
        with pytest.raises(WorkerError, match="could not start its stack"):
            deadline = time.monotonic() + 300
            while not pool.ready and time.monotonic() < deadline:
                pool.results(timeout=0.5)
    finally:
        pool.close()

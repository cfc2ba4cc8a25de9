"""``photosort local sort`` on a library: incremental re-runs, kill -9 and resume, --link/--move, and a stack
that keeps nothing of a photo once it is written (so memory does not grow with the library).

Sample photos come from installed packages (``photosort_local.samples``); the synthetic ones are drawn here.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from photosort_local.localsort import run as sort_run
from photosort_local.localsort.state import SortState, state_path

SAMPLES = ("chelsea", "coffee", "rocket", "astronaut", "flower", "grace_hopper")


def _library(root: Path, copy_sample, names=SAMPLES) -> Path:
    for name in names:
        copy_sample(name, root / f"{name}.png")
    return root


def _written(out: Path) -> set[str]:
    return {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and ".photosort" not in p.parts}


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_re_run_sorts_only_what_is_new(cli, tmp_path: Path, copy_sample, monkeypatch) -> None:
    library = _library(tmp_path / "in", copy_sample, ("chelsea", "coffee"))
    out = tmp_path / "out"
    first = cli("local", "sort", str(library), "--out", str(out), "--jobs", "1", "--json")
    assert first.code == 0, first.err
    first_results = _json_lines(first.out)

    copy_sample("flower", library / "new" / "flower.png")
    (library / "coffee.png").touch()  # a newer time alone does not make it new: its bytes are recorded
    second = cli("local", "sort", str(library), "--out", str(out), "--jobs", "1")
    assert second.code == 0, second.err
    assert "1 sorted; 2 already sorted (skipped). 1 photo(s)" in second.out
    assert "flower.png" in second.out

    def no_stack(*_args: object) -> None:
        raise AssertionError("a run with nothing new must not start a stack")

    monkeypatch.setattr(sort_run, "start_pool", no_stack)
    third = cli("local", "sort", str(library), "--out", str(out), "--jobs", "1", "--json")
    assert third.code == 0, third.err
    results = _json_lines(third.out)
    assert results[:2] == first_results  # the known photos report what was recorded
    assert results[2]["source"].endswith("new/flower.png") and results[2]["status"] == "sorted"
    assert _written(out) == {r["destination"] for r in results}

    with SortState(out) as state:
        assert state.check() == []
        assert sum(state.counts().values()) == 3
    albums = cli("albums", "--local", str(out), "--json")
    counts = {a["album"]: a["image_count"] for a in json.loads(albums.out)["albums"]}
    assert counts["pets"] == 1 and counts["nature"] == 1
    pets = json.loads(cli("album", "pets", "--local", str(out), "--json").out)
    assert [i["destination_key"] for i in pets["items"]] == [results[0]["destination"]]


def test_link_and_move_from_the_command_line(cli, tmp_path: Path, copy_sample) -> None:
    library = _library(tmp_path / "in", copy_sample, ("chelsea", "rocket"))
    linked = cli("local", "sort", str(library), "--out", str(tmp_path / "linked"), "--jobs", "1", "--link", "--json")
    assert linked.code == 0, linked.err
    for result in _json_lines(linked.out):
        assert (tmp_path / "linked" / result["destination"]).stat().st_ino == Path(result["source"]).stat().st_ino

    moved = cli("local", "sort", str(library), "--out", str(tmp_path / "moved"), "--jobs", "1", "--move", "--json")
    assert moved.code == 0, moved.err
    for result in _json_lines(moved.out):
        assert not Path(result["source"]).exists()
        assert (tmp_path / "moved" / result["destination"]).is_file()
    assert (tmp_path / "linked" / _json_lines(linked.out)[0]["destination"]).is_file()  # the link outlives the move

    with pytest.raises(SystemExit) as both:
        cli("local", "sort", str(library), "--out", str(tmp_path / "x"), "--link", "--move")
    assert both.value.code == 2


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid``: the workers, and the workers they forked."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], list(children.get(pid, []))
    while todo:
        found.append(todo.pop())
        todo.extend(children.get(found[-1], []))
    return found


def _sorted_count(out: Path) -> int:
    path = state_path(out)
    if not path.is_file():
        return 0
    try:
        with sqlite3.connect(path, timeout=1) as db:
            return int(db.execute("SELECT COUNT(*) FROM photos").fetchone()[0])
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0


def test_kill_9_mid_run_then_resume_loses_and_duplicates_nothing(cli, tmp_path: Path, copy_sample) -> None:
    library = _library(tmp_path / "in", copy_sample)
    copy_sample("coffee", library / "again" / "coffee.png")  # the same bytes twice: one sorted, one duplicate
    (library / "notes.jpg").write_text("not a photo\n")
    for path in _synthetic(library / "drawn", 16):  # enough photos that the kill lands mid-run
        if path.read_bytes().startswith(b"not an image"):
            path.unlink()
    inputs = sorted(p for p in library.rglob("*") if p.is_file())
    out = tmp_path / "out"
    command = [sys.executable, "-c", "import sys; from photosort_local.cli import main; sys.exit(main())"]
    args = ["local", "sort", str(library), "--out", str(out), "--jobs", "2", "--json"]
    proc = subprocess.Popen([*command, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while _sorted_count(out) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        workers = _descendants(proc.pid)
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert len(workers) >= 3, "the sort ran fewer than 2 workers (and the resource tracker)"
    deadline = time.monotonic() + 60
    while any(Path(f"/proc/{pid}").exists() for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()], "workers outlived their parent"
    interrupted = _sorted_count(out)
    assert 2 <= interrupted < len(inputs)

    resumed = cli("local", "sort", str(library), "--out", str(out), "--jobs", "1", "--json")
    assert resumed.code == 0, resumed.err
    results = _json_lines(resumed.out)
    assert [r["source"] for r in results] == [str(p) for p in inputs]
    statuses = [r["status"] for r in results]
    failed = [(r["source"], r["reason"]) for r in results if r["status"] == "failed"]
    assert statuses.count("duplicate") == 1 and statuses.count("rejected") == 1 and not failed, failed
    # every photo once, nothing else (a copy of bytes sorted before the kill is reported, not written again)
    assert _written(out) == {r["destination"] for r in results if r["destination"]}
    assert sum(r["destination"] is None for r in results) <= 1
    for result in [r for r in results if r["destination"]]:
        written = (out / result["destination"]).read_bytes()
        assert hashlib.sha256(written).digest() == hashlib.sha256(Path(result["source"]).read_bytes()).digest()
    with SortState(out) as state:
        assert state.check() == []  # no unfinished placement, every counter equals its members
        assert sum(state.counts().values()) == sum(1 for r in results if r["destination"])


def _synthetic(root: Path, n: int) -> list[Path]:
    """Small generated photos of varied sizes and colours, and some files that are not photos."""
    root.mkdir(parents=True)
    paths = []
    for i in range(n):
        path = root / f"img{i:03d}.png"
        if i % 4 == 3:
            path.write_bytes(b"not an image " * (i + 1))
        else:
            side = 32 + 8 * (i % 7)
            buffer = BytesIO()
            Image.new("RGB", (side, side + i % 5), ((37 * i) % 256, (91 * i) % 256, (53 * i) % 256)).save(buffer, "PNG")
            path.write_bytes(buffer.getvalue())
        paths.append(path)
    return paths


def test_the_stack_keeps_nothing_of_a_finished_photo(tmp_path: Path) -> None:
    """Bounded memory, checked structurally: at every moment the stack holds only the photos in flight (its
    bucket, its table's records, its engine's executions), whatever the size of the library."""
    from photosort_local.cli.inputs import find_inputs

    _synthetic(tmp_path / "lib", 12)
    uploads = find_inputs([str(tmp_path / "lib")])
    job = sort_run.SortJob(out=tmp_path / "out", parameters={"ClassifierBackend": "local"}, jobs=1, window=2)
    held: list[tuple[int, int, int]] = []
    alive: list[tuple[int, int]] = []  # S3 objects and DynamoDB items that moto still holds anywhere in memory
    album_entries: list[int] = []

    def measure(_outcome: object) -> None:
        pool = job._pool
        if pool is None:
            return
        stack = pool._worker._stack  # type: ignore[attr-defined]
        objects = stack.s3.list_objects_v2(Bucket=stack.bucket).get("KeyCount", 0)
        records = stack.client("dynamodb").scan(
            TableName=stack.table,
            FilterExpression="#t = :t",
            ExpressionAttributeNames={"#t": "type"},
            ExpressionAttributeValues={":t": {"S": "image"}},
        )["Count"]
        members = stack.client("dynamodb").scan(
            TableName=stack.table,
            FilterExpression="begins_with(PK, :a)",
            ExpressionAttributeValues={":a": {"S": "ALBUM#"}},
        )["Count"]
        album_entries.append(members)
        from moto.stepfunctions.responses import get_backend

        machine = get_backend(stack.state_machine_arn.split(":")[4], stack.region).describe_state_machine(
            stack.state_machine_arn
        )
        held.append((objects, records, len(machine.executions)))
        from moto.dynamodb.models.dynamo_type import Item
        from moto.s3.models import FakeKey

        gc.collect()
        alive.append(tuple(sum(1 for o in gc.get_objects() if type(o) is cls) for cls in (FakeKey, Item)))

    summary = job.run(uploads, measure)
    assert summary.processed == 12 and summary.statuses["rejected"] == 3
    assert len(held) == 12
    # at most the window's photos are in the stack at once (some objects under heads/ etc. may exist: none here)
    assert max(h[0] for h in held) <= 2 and max(h[1] for h in held) <= 2 and max(h[2] for h in held) <= 2
    assert held[-1] == (0, 0, 0)
    assert max(album_entries) <= 2 * 2 and album_entries[-1] == 0  # a photo is in at most 2 albums
    # and the bytes are gone from memory, not only from the bucket: the S3 objects alive are the deployment's
    # artifacts and the photos in flight, and the DynamoDB items grow only by the hash claims and the
    # near-duplicate index entries (a few per photo), not by every item and copy moto ever made
    assert max(k for k, _ in alive) - min(k for k, _ in alive) <= 2 * 3
    assert alive[-1][1] - alive[0][1] <= 6 * len(alive)


def test_the_stack_forgets_a_sorted_photos_album_entries(tmp_path: Path, copy_sample) -> None:
    from photosort_local.cli.inputs import find_inputs

    uploads = find_inputs([str(_library(tmp_path / "lib", copy_sample))])
    job = sort_run.SortJob(out=tmp_path / "out", parameters={"ClassifierBackend": "local"}, jobs=1, window=1)
    entries: list[tuple[str, int]] = []  # (the finished photo's destination, album entries the stack still holds)

    def measure(outcome: Any) -> None:
        stack = job._pool._worker._stack  # type: ignore[union-attr]
        members = stack.client("dynamodb").scan(
            TableName=stack.table,
            FilterExpression="begins_with(PK, :a)",
            ExpressionAttributeValues={":a": {"S": "ALBUM#"}},
        )["Count"]
        entries.append((outcome.destination or "", members))

    job.run(uploads, measure)
    assert len(entries) == len(SAMPLES)
    assert any(destination.startswith("albums/") for destination, _n in entries)
    assert all(n == 0 for _d, n in entries)  # window 1: each photo is forgotten before the next starts
    with SortState(tmp_path / "out") as state:
        assert state.list_albums()  # the albums are kept in the local state, not in the stack


def test_photo_weight_reads_the_pixels_from_the_header(tmp_path: Path) -> None:
    from photosort_local.localsort.workers import photo_weight

    flat = tmp_path / "flat.png"  # 2000 x 1500 of one colour: a small file, a large decoded image
    Image.new("RGB", (2000, 1500), (40, 90, 200)).save(flat)
    noisy = tmp_path / "noisy.png"
    Image.frombytes("RGB", (64, 64), os.urandom(64 * 64 * 3)).save(noisy)
    assert flat.stat().st_size < noisy.stat().st_size
    assert photo_weight(str(flat)) == 4 * flat.stat().st_size + 6 * 2000 * 1500
    assert photo_weight(str(noisy)) == 4 * noisy.stat().st_size + 6 * 64 * 64
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    assert photo_weight(str(text)) == 4 * len("not an image")
    assert photo_weight(str(tmp_path / "missing.jpg")) == 0


def test_a_worker_runs_large_photos_one_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The photos a worker runs at once stay within its memory budget; a photo above it runs alone."""
    from photosort_local.cli.inputs import find_inputs
    from photosort_local.localsort import workers

    lib = tmp_path / "lib"
    lib.mkdir()
    for i in range(3):
        Image.new("RGB", (1200 + i, 900), (60 * i, 120, 30)).save(lib / f"big{i}.png")
        Image.new("RGB", (40 + i, 40), (10, 60 * i, 200)).save(lib / f"small{i}.png")
    big = workers.photo_weight(str(lib / "big0.png"))
    budget = big + big // 2  # a large photo and small ones fit together; two large ones do not
    monkeypatch.setattr(workers, "MEMORY_BUDGET", budget)
    seen: list[tuple[int, list[str]]] = []
    original = workers.StackWorker._start_waiting

    def start_waiting(self: workers.StackWorker) -> None:
        original(self)
        seen.append((self._in_flight, sorted(Path(t.path).name for t, _s, _w in self._pending.values())))

    monkeypatch.setattr(workers.StackWorker, "_start_waiting", start_waiting)
    uploads = find_inputs([str(lib)])  # big0, big1, big2, small0, ...: in name order
    job = sort_run.SortJob(out=tmp_path / "out", parameters={"ClassifierBackend": "local"}, jobs=1, window=3)
    summary = job.run(uploads, lambda _outcome: None)

    assert summary.processed == 6 and summary.statuses["failed"] == 0
    assert all(flight <= budget for flight, names in seen if len(names) > 1)
    assert all(sum(name.startswith("big") for name in names) <= 1 for _flight, names in seen)
    assert max(len(names) for _flight, names in seen) >= 2  # small photos did share the worker
    assert seen[-1] == (0, [])


@pytest.mark.parametrize("jobs", ["0", "x"])
def test_jobs_must_be_a_positive_number(cli, tmp_path: Path, jobs: str) -> None:
    with pytest.raises(SystemExit):
        cli("local", "sort", str(tmp_path), "--out", str(tmp_path / "out"), "--jobs", jobs)

"""The backfill machine on the embedded stack: the real statemachine/backfill.asl.json run by moto's engine (with
photosort_local.moto_distributed_map), the real BackfillFunction and BackfillLockFunction, the real domain code.

Most pre-existing objects in the large ingest are small non-image files (rejected as NotAnImage, each through
Inspect, Record and Sort like any object), so that 2,500 objects take a couple of minutes on a loaded machine;
a few dozen real photos go through the model and into albums.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from photosort import backfill
from photosort.models import Status
from photosort_local import backfill_run
from photosort_local.stack import EmbeddedStack
from tests.support.harness import Harness
from tests.workflow.test_workflow import variant

PHOTOS = ("chelsea", "coffee", "astronaut", "china", "motorcycle_left", "flower", "rocket", "grace_hopper")


@pytest.fixture(scope="module")
def stack() -> Iterator[EmbeddedStack]:
    with EmbeddedStack(parameters={"BackfillMaxConcurrency": "4"}, stack_name="backfill") as running:
        yield running


@pytest.fixture(scope="module")
def harness(stack: EmbeddedStack) -> Harness:
    return Harness(stack)


@pytest.fixture(autouse=True)
def _no_run_left_behind(stack: EmbeddedStack) -> Iterator[None]:
    """A test that fails part-way must not leave its run holding the lock for the next test."""
    yield
    sfn = stack.client("stepfunctions")
    machine = stack.outputs["BackfillStateMachineArn"]
    for execution in sfn.list_executions(stateMachineArn=machine, statusFilter="RUNNING")["executions"]:
        sfn.stop_execution(executionArn=execution["executionArn"], error="TestCleanup", cause="test ended")


def keys(harness: Harness, prefix: str) -> list[str]:
    """harness.keys, asked again when moto's listing races a concurrent delete (KeyError inside moto)."""
    for _ in range(5):
        try:
            return harness.keys(prefix)
        except KeyError:
            time.sleep(0.05)
    return harness.keys(prefix)


def target(stack: EmbeddedStack) -> backfill_run.Target:
    return backfill_run.Target.from_outputs(stack.outputs, stack.stack_name)


def start(stack: EmbeddedStack, mode: str, prefix: str = "", *, everything: bool = False) -> str:
    options = backfill.RunOptions(mode=backfill.Mode(mode), prefix=prefix, all=everything)
    return backfill_run.start_run(stack.client("stepfunctions"), target(stack), options)


def finish(stack: EmbeddedStack, arn: str) -> tuple[dict[str, Any], backfill.Report]:
    desc = backfill_run.wait(stack.client("stepfunctions"), arn, timeout=900, poll=0.2)
    stack.wait_idle(timeout=300)
    return desc, backfill_run.load_report(stack.s3, stack.client("stepfunctions"), stack.bucket, arn, desc)


def run(stack: EmbeddedStack, mode: str, prefix: str = "", **kw: Any) -> tuple[dict[str, Any], backfill.Report]:
    return finish(stack, start(stack, mode, prefix, **kw))


def put(harness: Harness, key: str, data: bytes) -> None:
    harness.s3.put_object(Bucket=harness.stack.bucket, Key=key, Body=data)


def counts_equal_members(harness: Harness) -> dict[str, int]:
    """Every album's count equals its member items and the records' memberships; returns the counts."""
    db = harness.stack.client("dynamodb")
    counts = {a.album: a.image_count for a in harness.repo.list_albums()}
    for album, count in counts.items():
        pages = db.get_paginator("query").paginate(
            TableName=harness.stack.table,
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": {"S": f"ALBUM#{album}"}},
            Select="COUNT",
        )
        assert sum(p["Count"] for p in pages) == count, f"album {album}: count {count} != members"
    by_records = backfill.memberships_of(harness.repo.scan_images())
    assert {a: n for a, n in counts.items() if n} == dict(by_records)
    return counts


def album_of_keys(harness: Harness) -> dict[str, str | None]:
    return {r.destination_key: backfill.album_of(r) for r in harness.repo.scan_images()}


# -- ingest ------------------------------------------------------------------------------------------------------
def test_ingest_of_2500_objects_over_several_listing_pages(harness: Harness) -> None:
    # GIVEN 2,500 objects already in the bucket under old/ (3 listing pages), 16 of them photos
    stack = harness.stack
    photos = {f"old/photos/{name}-{i}.png": variant(name, 900 + i) for i, name in enumerate(PHOTOS * 2)}
    for key, data in photos.items():
        put(harness, key, data)
    junk = [f"old/misc/{i:05d}.txt" for i in range(2500 - len(photos))]
    for i, key in enumerate(junk):
        put(harness, key, f"not a photo {i}".encode())
    put(harness, "albums/already/x.png", b"photosort's own output: never ingested")

    # WHEN an ingest of old/ runs
    desc, report = run(stack, "ingest", "old/")

    # THEN every object was handled once, as an upload would have been, and nothing is left under old/
    assert desc["status"] == "SUCCEEDED", desc
    assert harness.keys("old/") == []
    assert sum(report.outcomes.values()) == 2500
    assert report.outcomes["rejected"] == len(junk)
    assert report.outcomes["sorted"] + report.outcomes["unsorted"] == len(photos)
    assert report.failed_items == [] and report.failed_batches == 0
    records = list(harness.repo.scan_images())
    assert len(records) == 2500 and len({r.source_key for r in records}) == 2500
    assert all(r.destination_key.startswith("rejected/") for r in records if r.source_key in junk[:50])
    assert {r.source_key for r in records if r.status is Status.SORTED} <= set(photos)
    assert "albums/already/x.png" in harness.keys("albums/already/")  # outputs are not items
    counts = counts_equal_members(harness)
    assert counts.get("pets", 0) >= 2  # both chelsea variants
    # the report's manifest lists more than one batch (10 keys each): the listing went past one page
    assert report.outcomes["rejected"] > 1000


def test_a_second_backfill_is_refused_while_one_runs(harness: Harness) -> None:
    stack = harness.stack
    for i in range(30):
        put(harness, f"slow/{i:03d}.txt", b"x%d" % i)
    runner = stack.runner
    assert runner is not None
    runner.inject(stack.outputs["BackfillFunctionName"], "hang")
    first = start(stack, "ingest", "slow/")
    assert runner.hung.wait(60), "the first run never started a batch"
    try:
        second, _ = finish(stack, start(stack, "ingest", "slow/"))
        assert second["status"] == "FAILED"
        assert second["error"] == "BackfillRefused"
        assert first.rsplit(":", 1)[-1] in second["cause"]
    finally:
        runner.release()
    desc, _report = finish(stack, first)
    assert desc["status"] in ("SUCCEEDED", "FAILED")  # the hung batch crashed; the rest went through


def test_an_interrupted_ingest_resumes_without_redoing_finished_items(harness: Harness) -> None:
    # GIVEN 300 objects, and an ingest stopped after some batches finished
    stack = harness.stack
    names = [f"resume/{i:04d}.txt" for i in range(300)]
    for i, key in enumerate(names):
        put(harness, key, b"resume %d" % i)
    sfn = stack.client("stepfunctions")
    first = start(stack, "ingest", "resume/")
    deadline = time.monotonic() + 300
    while len(keys(harness, "resume/")) > 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    sfn.stop_execution(executionArn=first, error="Interrupted", cause="stopped by the test")
    _settle(harness, "resume/")
    left = keys(harness, "resume/")
    assert 0 < len(left) < 300, "the run was not interrupted part-way"
    done_before = {r.source_key: r.updated_at for r in harness.repo.scan_images() if r.source_key in names}

    # WHEN the same command runs again (the stopped run still holds the lock: it is taken over)
    desc, report = run(stack, "ingest", "resume/")

    # THEN only what was left is handled, and every object has exactly one record, never rewritten
    assert desc["status"] == "SUCCEEDED", desc
    assert sum(report.outcomes.values()) == len(left)
    assert harness.keys("resume/") == []
    after = [r for r in harness.repo.scan_images() if r.source_key in names]
    assert len(after) == 300
    assert all(r.updated_at == done_before[r.source_key] for r in after if r.source_key in done_before)


def test_a_failed_batch_fails_the_run_is_reported_and_a_rerun_finishes_it(harness: Harness) -> None:
    # GIVEN 10 objects (one batch) and a backfill function that crashes on every attempt of that batch
    stack = harness.stack
    for i in range(10):
        put(harness, f"crashy/{i:02d}.txt", b"crashy %d" % i)
    runner = stack.runner
    assert runner is not None
    runner.inject(stack.outputs["BackfillFunctionName"], "crash", times=3)  # the first try and both retries

    # WHEN the ingest runs
    desc, report = run(stack, "ingest", "crashy/")

    # THEN the run fails over its 5% threshold, the lock is released, and the report names every key and why
    assert desc["status"] == "FAILED" and desc["error"] == "BackfillFailed"
    assert "threshold" in desc["cause"]
    assert report.failed_batches == 1
    assert sorted(f["key"] for f in report.failed_items) == [f"crashy/{i:02d}.txt" for i in range(10)]
    assert all("Runtime exited" in f["reason"] or "Lambda" in f["reason"] for f in report.failed_items)
    from photosort_local.cli.backfill import report_text

    text = report_text("arn:x", desc["status"], report, desc["error"])
    assert "Failed items (10)" in text and "redrive-execution --execution-arn arn:x" in text
    # AND running the same command again sorts them (nothing was lost or half-done)
    again, second = run(stack, "ingest", "crashy/")
    assert again["status"] == "SUCCEEDED", again
    assert second.outcomes == {"rejected": 10}
    assert harness.keys("crashy/") == []


def _settle(harness: Harness, prefix: str) -> None:
    """Wait until in-flight batches of a stopped run are done (the prefix stops shrinking)."""
    last, stable_since = -1, time.monotonic()
    while time.monotonic() - stable_since < 2.0:
        now = len(keys(harness, prefix))
        if now != last:
            last, stable_since = now, time.monotonic()
        time.sleep(0.2)


def test_an_upload_during_a_backfill_is_handled_once(harness: Harness) -> None:
    # GIVEN an ingest of 200 objects running, and meanwhile a new photo and a copy of one being backfilled
    stack = harness.stack
    twin = variant("chelsea", 4242)
    put(harness, "during/photos/chelsea.png", twin)
    for i in range(200):
        put(harness, f"during/misc/{i:04d}.txt", b"during %d" % i)
    pets_before = {a.album: a.image_count for a in harness.repo.list_albums()}.get("pets", 0)
    arn = start(stack, "ingest", "during/")
    uploads = threading.Thread(
        target=lambda: (
            put(harness, "incoming/live/chelsea-copy.png", twin),
            put(harness, "incoming/live/coffee.png", variant("coffee", 4243)),
        )
    )
    uploads.start()
    uploads.join()
    desc, _report = finish(stack, arn)

    # THEN the copy and the backfilled original are one photo (one owner, one duplicate), counted once
    assert desc["status"] == "SUCCEEDED", desc
    assert harness.keys("incoming/live/") == []
    twins = [r for r in harness.repo.scan_images() if r.sha256 and twin_sha(twin) == r.sha256]
    assert sorted(r.status.value for r in twins) == ["duplicate", "sorted"]
    assert sum(len(r.memberships) for r in twins) >= 1
    coffee = [r for r in harness.repo.scan_images() if r.source_key == "incoming/live/coffee.png"]
    assert len(coffee) == 1 and coffee[0].status is Status.SORTED
    counts = counts_equal_members(harness)
    assert counts.get("pets", 0) == pets_before + 1


def twin_sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


# -- reroute and reclassify ------------------------------------------------------------------------------------
NEW_RULES = {
    "version": 1,
    "min_confidence": 50,
    "rules": [
        {"album": "animals", "labels": ["Cat", "Dog", "Animal", "Pet"], "min_confidence": 40},
        {"album": "people", "labels": ["Person", "Human", "Face", "Portrait"], "min_confidence": 97},
        {"album": "food", "labels": ["Food", "Beverage", "Meal", "Dish", "Fruit", "Vegetable", "Dessert"]},
    ],
    "unsorted_path": "{year}/{stem}-{sha8}{ext}",
}


def test_reroute_after_a_rules_change_matches_its_dry_run(harness: Harness) -> None:
    # GIVEN sorted photos (from the ingests above), and new rules deployed to the backfill function
    stack = harness.stack
    before = album_of_keys(harness)
    stack.update_function_environment(stack.outputs["BackfillFunctionName"], {"PHOTOSORT_RULES": json.dumps(NEW_RULES)})

    # WHEN a dry run, then the reroute itself, run
    planned = backfill_run.plan_run(stack.client, target(stack), backfill.RunOptions(mode=backfill.Mode.REROUTE))
    assert album_of_keys(harness) == before  # the dry run changed nothing
    desc, report = run(stack, "reroute")

    # THEN the run did exactly what the plan said: the same moves between albums, the same counts
    assert desc["status"] == "SUCCEEDED", desc
    assert planned.plan.moves == report.moves
    assert planned.plan.moves, "the new rules move some photos"
    assert {k: v for k, v in planned.plan.outcomes.items() if k != "skipped"} == {
        k: v for k, v in report.outcomes.items() if k != "skipped"
    }
    # only the changed photos moved; everything else kept its key
    after = album_of_keys(harness)
    moved = {k for k in before if k not in after}
    assert len(moved) == report.outcomes["moved"] == sum(report.moves.values())
    assert all(after[k] == before[k] for k in before if k in after)
    assert all(
        album in ("animals", "people", "food", "(unsorted)")
        for album in Counter(
            backfill.album_of(r) for r in harness.repo.scan_images() if r.status in (Status.SORTED, Status.UNSORTED)
        )
    )
    for record in harness.repo.scan_images():
        if record.status in (Status.SORTED, Status.UNSORTED):
            assert record.destination_key in harness.keys(record.destination_key)
    counts_equal_members(harness)

    # AND a second reroute changes nothing
    _desc, again = run(stack, "reroute")
    assert again.outcomes["moved"] == 0 and again.outcomes["updated"] == 0


def test_reclassify_after_a_backend_change(harness: Harness) -> None:
    # GIVEN photos classified by the local model, and the backfill function switched to Rekognition (moto's
    # DetectLabels answers "Mobile Phone" for every image, so every photo leaves its album)
    stack = harness.stack
    placed = [r for r in harness.repo.scan_images() if r.status in (Status.SORTED, Status.UNSORTED)]
    assert placed and all(r.backend == "local" for r in placed)
    stack.update_function_environment(stack.outputs["BackfillFunctionName"], {"PHOTOSORT_BACKEND": "rekognition"})

    # WHEN a reclassify runs
    desc, report = run(stack, "reclassify")

    # THEN every placed photo was classified again by Rekognition and rerouted on its new labels
    assert desc["status"] == "SUCCEEDED", desc
    assert report.outcomes["moved"] + report.outcomes["updated"] == len(placed)
    after = [r for r in harness.repo.scan_images() if r.status in (Status.SORTED, Status.UNSORTED)]
    assert all(r.backend == "rekognition" for r in after)
    assert all(r.labels and r.labels[0].name == "Mobile Phone" for r in after)
    assert all(r.destination_key.startswith("unsorted/") for r in after)
    assert all(r.destination_key in harness.keys(r.destination_key) for r in after)
    counts = counts_equal_members(harness)
    assert all(n == 0 for n in counts.values())

    # AND a second run finds them current
    _desc, again = run(stack, "reclassify")
    assert again.outcomes["current"] == len(placed)
    assert again.outcomes["moved"] == 0


def test_the_cli_plans_runs_and_reports(harness: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN the stack after the runs above (nothing left to reroute)
    from photosort_local.cli import main

    # WHEN `photosort backfill --dry-run`, then the run itself, go through the CLI
    assert main(["backfill", "--stack", "backfill", "--mode", "reroute", "--dry-run"]) == 0
    planned = capsys.readouterr().out
    assert main(["backfill", "--stack", "backfill", "--mode", "ingest", "--prefix", "nothing-here/"]) == 0
    ran = capsys.readouterr().out
    assert main(["backfill", "--stack", "no-such-stack", "--mode", "ingest"]) == 1

    # THEN the plan has the counts, the diff table, the cost and the duration; the report has the totals
    assert "Dry run: reroute" in planned and "nothing was changed" in planned
    assert "(no photo changes album)" in planned
    assert "Estimated cost: $" in planned and "at MaxConcurrency 100" in planned
    assert ": SUCCEEDED" in ran and "OUTCOME" in ran
    assert "cannot read stack no-such-stack" in capsys.readouterr().err

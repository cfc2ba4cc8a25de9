"""The backfill machine on the embedded stack: the real statemachine/backfill.asl.json run by moto's engine (with
photosort_local.moto_distributed_map), the real BackfillFunction and BackfillLockFunction, the real domain code.

Most pre-existing objects in the large ingest are small non-image files (rejected as NotAnImage, each through
Inspect, Record and Sort like any object), so that 2,500 objects take a couple of minutes on a loaded machine;
a few dozen real photos go through the model and into albums.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from photosort import backfill
from photosort.models import Status
from photosort_local import backfill_run, inventory
from photosort_local.stack import EmbeddedStack
from tests.support.harness import Harness
from tests.workflow.test_workflow import variant

INVENTORY_BUCKET = "photosort-inventory"
INVENTORY_PREFIX = "reports/"
PHOTOS = ("chelsea", "coffee", "astronaut", "china", "motorcycle_left", "flower", "rocket", "grace_hopper")


@pytest.fixture(scope="module")
def stack() -> Iterator[EmbeddedStack]:
    parameters = {
        "BackfillMaxConcurrency": "4",
        "BackfillInventoryBucket": INVENTORY_BUCKET,
        "BackfillInventoryPrefix": INVENTORY_PREFIX,
    }
    with EmbeddedStack(parameters=parameters, stack_name="backfill") as running:
        running.s3.create_bucket(Bucket=INVENTORY_BUCKET)  # the inventory's destination: another bucket
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


def test_ingest_from_an_s3_inventory_manifest_skips_outputs_versions_and_gone_objects(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the bucket after the ingest above (2,500 records under photosort's outputs), new objects under inv/
    # (photos, one with a space, a plus, accents and a percent sign in its key, and non-images), and an S3 Inventory
    # of the whole bucket (CSV, gzip, keys URL-encoded, several files) taken before one object was deleted, with a
    # delete marker's row and a row of another bucket
    stack = harness.stack
    odd = "inv/Summer 2019/été+plage 100%.png"
    photos = {odd: variant("chelsea", 5100), "inv/coffee.png": variant("coffee", 5101)}
    junk = [f"inv/misc/{i:03d}.txt" for i in range(25)]
    for key, data in photos.items():
        put(harness, key, data)
    for i, key in enumerate(junk):
        put(harness, key, b"inventory junk %d" % i)
    put(harness, "inv/deleted-since.txt", b"listed by the inventory, deleted before the run")
    extra = [  # an inventory of all versions: a delete marker's row, and an older version's
        {"Bucket": stack.bucket, "Key": "inv/old.txt", "VersionId": "v2", "IsLatest": "true", "IsDeleteMarker": "true"},
        {"Bucket": stack.bucket, "Key": "inv/old.txt", "VersionId": "v1", "IsLatest": "false", "Size": "3"},
        {"Bucket": "someone-elses-bucket", "Key": "inv/theirs.png", "IsLatest": "true", "Size": "10"},
    ]
    uri = inventory.write_inventory(
        stack.s3,
        stack.bucket,
        INVENTORY_BUCKET,
        prefix=INVENTORY_PREFIX,
        rows_per_file=700,
        extra_rows=extra,
        versions=True,
    )
    stack.s3.delete_object(Bucket=stack.bucket, Key="inv/deleted-since.txt")
    rows = inventory.read_manifest(stack.s3, uri)
    assert len(rows) > 2500 and any("%C3%A9t%C3%A9%2Bplage+100%25" in r["Key"] for r in rows)
    to_ingest = len(photos) + len(junk)

    # WHEN a dry run, then the ingest itself, read that manifest
    options = backfill.RunOptions(mode=backfill.Mode.INGEST, manifest=uri)
    planned = backfill_run.plan_run(stack.client, target(stack), options)
    desc, report = finish(stack, backfill_run.start_run(stack.client("stepfunctions"), target(stack), options))

    # THEN every row was an item: the new objects were sorted as uploads, the vanished one is "gone", and photosort's
    # outputs, the other bucket's row and the delete marker were skipped with their reasons, as the plan said
    assert desc["status"] == "SUCCEEDED", desc
    assert sum(report.outcomes.values()) == len(rows) == planned.plan.listed
    assert report.outcomes["rejected"] == len(junk)
    assert report.outcomes["sorted"] + report.outcomes["unsorted"] == len(photos)
    assert report.outcomes["gone"] == 1 == planned.plan.outcomes["gone"], (report.outcomes, planned.plan.as_dict())
    assert planned.plan.outcomes["moved"] == to_ingest
    assert report.outcomes["skipped"] == len(rows) - to_ingest - 1 == planned.plan.outcomes["skipped"]
    assert planned.plan.skipped["a delete marker (the inventory lists versions)"] == 1
    assert planned.plan.skipped["not the current version (the inventory lists versions)"] == 1
    assert (
        planned.plan.skipped[
            "in bucket someone-elses-bucket, not " + stack.bucket + " (an inventory of another bucket)"
        ]
        == 1
    )
    assert planned.plan.skipped["outside this mode's prefixes"] == len(rows) - to_ingest - 4
    assert report.failed_items == []
    assert keys(harness, "inv/") == []
    record = harness.record_for(odd)  # the decoded key: the object was found and its record names it
    assert record is not None and record.status is Status.SORTED
    assert "albums/already/x.png" in keys(harness, "albums/already/")
    counts_equal_members(harness)
    assert planned.cost.as_dict()["items"][0]["item"].startswith("Inventory")

    # AND the CLI prints the same plan; a manifest outside the stack's inventory destination is refused
    from photosort_local.cli import main

    assert main(["backfill", "--stack", "backfill", "--mode", "ingest", "--manifest", uri, "--dry-run"]) == 0
    assert f"from the S3 Inventory {uri}" in capsys.readouterr().out
    elsewhere = f"s3://{stack.bucket}/backfill/manifest.json"
    assert main(["backfill", "--stack", "backfill", "--mode", "ingest", "--manifest", elsewhere, "--dry-run"]) == 1
    assert "not under this stack's S3 Inventory destination" in capsys.readouterr().err
    refused, _ = finish(
        stack,
        backfill_run.start_run(
            stack.client("stepfunctions"),
            target(stack),
            backfill.RunOptions(mode=backfill.Mode.INGEST, manifest=elsewhere),
        ),
    )
    assert refused["status"] == "FAILED" and refused["error"] == "BackfillRefused"
    assert f"s3://{INVENTORY_BUCKET}/{INVENTORY_PREFIX}" in refused["cause"]


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


KITTY_RULES = {
    **NEW_RULES,
    "rules": [{"album": "kitties", "labels": ["Kitty"], "min_confidence": 60}, *NEW_RULES["rules"]],
}


def _train_kitty_head() -> Any:
    """A few-shot head (photosort labels train's training, nearest centroid) on the local model's embeddings of
    three cat photos ("Kitty") and three others ("Thing")."""
    import numpy as np

    from photosort import embeddings, fewshot
    from photosort.backends.local import LocalClassifier

    classifier = LocalClassifier(detect_faces=False)
    examples = [("Kitty", variant("chelsea", 7000 + i)) for i in range(3)]
    examples += [("Thing", variant(name, 7100)) for name in ("coffee", "rocket", "motorcycle_left")]
    vectors = []
    for _label, data in examples:
        embedding = classifier.classify_bytes(data).embedding
        assert embedding is not None
        vectors.append(embeddings.decode(embedding))
    targets = np.array([0 if label == "Kitty" else 1 for label, _ in examples])
    return fewshot.train_head(
        "kitty",
        np.stack(vectors),
        targets,
        ("Kitty", "Thing"),
        classifier.classifier_version,
        method="nearest-centroid",
        folds=2,
    )


def test_reclassify_after_a_few_shot_head_is_attached_redoes_only_other_heads_records(harness: Harness) -> None:
    # GIVEN photos classified by the local model with no head, and a head trained and attached to the backfill
    # and the per-upload functions (with a rule for its label)
    stack = harness.stack
    placed = [r for r in harness.repo.scan_images() if r.status in (Status.SORTED, Status.UNSORTED)]
    assert placed and all(r.backend == "local" and "+head:" not in (r.model_version or "") for r in placed)
    head = _train_kitty_head()
    put(harness, "heads/kitty.json", head.to_json().encode())
    uri = f"s3://{stack.bucket}/heads/kitty.json"
    with_head = {"PHOTOSORT_LABEL_HEAD": uri, "PHOTOSORT_LABEL_HEAD_MAX_AGE": "0"}
    rules = {"PHOTOSORT_RULES": json.dumps(KITTY_RULES)}
    stack.update_function_environment(stack.outputs["BackfillFunctionName"], {**with_head, **rules})
    stack.update_function_environment(stack.outputs["ClassifyFunctionName"], with_head)
    stack.update_function_environment(stack.outputs["RecordFunctionName"], rules)
    # AND one new upload, classified with the head by the per-upload workflow
    fresh = harness.upload(harness.unique("new-cat.png"), variant("chelsea", 7300)).record
    assert fresh is not None and fresh.model_version is not None
    assert fresh.model_version.endswith(f"+head:{head.ident}") and fresh.labels[0].name == "Kitty"

    # WHEN a reclassify of one album runs, then a dry run and a reclassify of the whole bucket
    in_animals = [r for r in placed if r.destination_key.startswith("albums/animals/")]
    assert in_animals, "the reroute put the cats in animals"
    _desc, first = run(stack, "reclassify", "albums/animals/")
    planned = backfill_run.plan_run(stack.client, target(stack), backfill.RunOptions(mode=backfill.Mode.RECLASSIFY))
    desc, second = run(stack, "reclassify")

    # THEN the first redid exactly that album's records; the second only the rest (the album's, and the upload
    # classified with this head, were current), as its dry run said; every record now names the head
    assert first.outcomes["moved"] + first.outcomes["updated"] + first.outcomes["unchanged"] == len(in_animals)
    assert desc["status"] == "SUCCEEDED", desc
    assert second.outcomes["current"] == len(in_animals) + 1 == planned.plan.outcomes["current"]
    redone = second.outcomes["moved"] + second.outcomes["updated"] + second.outcomes["unchanged"]
    assert redone == len(placed) - len(in_animals) == planned.plan.outcomes["moved"]
    after = [r for r in harness.repo.scan_images() if r.status in (Status.SORTED, Status.UNSORTED)]
    assert len(after) == len(placed) + 1
    assert all(r.model_version and r.model_version.endswith(f"+head:{head.ident}") for r in after)
    kitties = [r for r in after if backfill.album_of(r) == "kitties"]
    assert fresh.image_id in {r.image_id for r in kitties}
    assert {r.image_id for r in kitties} >= {
        r.image_id for r in in_animals if r.source_key.split("/")[-1].startswith("chelsea")
    }
    assert all(r.destination_key.startswith("albums/kitties/") for r in kitties)
    assert all(r.destination_key in harness.keys(r.destination_key) for r in after)
    counts = counts_equal_members(harness)
    assert counts["kitties"] == len(kitties)

    # AND with the head retrained (new weights, a new version) every record is redone again
    retrained = dataclasses.replace(head, version="retrained000")
    put(harness, "heads/kitty.json", retrained.to_json().encode())
    plan_again = backfill_run.plan_run(stack.client, target(stack), backfill.RunOptions(mode=backfill.Mode.RECLASSIFY))
    assert plan_again.plan.outcomes.get("current", 0) == 0
    assert plan_again.plan.outcomes["moved"] == len(after)
    # (detach the head from the per-upload functions for the tests after this one)
    stack.update_function_environment(stack.outputs["ClassifyFunctionName"], {"PHOTOSORT_LABEL_HEAD": ""})


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

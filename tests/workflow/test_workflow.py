"""The real workflow end to end: template.yaml in moto, statemachine/sort_photo.asl.json on moto's engine,
every Lambda task running its real handler in-process with real boto3 calls.

GIVEN an upload under incoming/, WHEN the pipeline has run, THEN the photo is in exactly one place and its
DynamoDB record says where and why.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading

from PIL import Image

from photosort.models import Status
from photosort_local.samples import find_sample
from tests.support.harness import Harness


def variant(name: str, seed: int) -> bytes:
    """A sample photo with one pixel changed: a different photo (different bytes), same content."""
    img = Image.open(find_sample(name)).convert("RGB")
    img.putpixel((0, 0), (seed % 256, (seed // 256) % 256, 7))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def sha8(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:8]


def test_cat_photo_is_sorted_into_the_pets_album(harness: Harness) -> None:
    data = variant("chelsea", 1)
    key = harness.unique("chelsea.png")

    result = harness.upload(key, data, ContentType="image/png", Metadata={"owner": "ana"})

    assert result.outcome.status == "SUCCEEDED"
    record = result.record
    assert record is not None and record.status is Status.SORTED
    assert record.destination_key.startswith("albums/pets/") and record.destination_key.endswith(f"-{sha8(data)}.png")
    assert [m.album for m in record.memberships][:2] == ["pets", "animals"]
    assert {"Cat", "Animal"} <= {label.name for label in record.labels}
    assert harness.keys_with_hash(sha8(data)) == [record.destination_key]
    assert key not in harness.keys("incoming/")
    head = harness.s3.head_object(Bucket=harness.stack.bucket, Key=record.destination_key)
    assert head["ContentType"] == "image/png"
    assert head["Metadata"]["owner"] == "ana"  # the user's metadata survives the move
    tags = harness.s3.get_object_tagging(Bucket=harness.stack.bucket, Key=record.destination_key)["TagSet"]
    assert {"Key": "photosort-album", "Value": "pets"} in tags
    assert harness.s3.get_object(Bucket=harness.stack.bucket, Key=record.destination_key)["Body"].read() == data


def test_album_counts_and_newest_first_listing(harness: Harness) -> None:
    before = {a.album: a.image_count for a in harness.repo.list_albums()}
    harness.upload(harness.unique("cat-a.png"), variant("chelsea", 2))
    harness.upload(harness.unique("cat-b.png"), variant("chelsea", 3))

    after = {a.album: a.image_count for a in harness.repo.list_albums()}
    assert after["pets"] == before.get("pets", 0) + 2
    page = harness.repo.list_album("pets", limit=1)
    assert len(page.items) == 1 and page.next_token
    rest = harness.repo.list_album("pets", limit=100, next_token=page.next_token)
    times = [page.items[0].taken_at, *(i.taken_at for i in rest.items)]
    assert times == sorted(times, reverse=True)
    assert len(times) == after["pets"]


def test_low_confidence_goes_to_unsorted(harness: Harness) -> None:
    grey = io.BytesIO()
    Image.new("RGB", (320, 240), (128, 128, 128)).save(grey, format="JPEG")
    key = harness.unique("grey.jpg")

    result = harness.upload(key, grey.getvalue())

    assert result.record is not None and result.record.status is Status.UNSORTED
    assert result.record.destination_key.startswith("unsorted/")
    assert result.record.reason.startswith("no rule matched")
    assert result.record.memberships == ()


def test_not_an_image_is_rejected_with_a_named_reason(harness: Harness) -> None:
    key = harness.unique("holiday.jpg")
    data = b"this is a text file with a .jpg name"

    result = harness.upload(key, data)

    assert result.outcome.status == "SUCCEEDED"
    assert result.record is not None and result.record.status is Status.REJECTED
    assert result.record.reason.startswith("NotAnImage")
    assert result.record.destination_key.startswith("rejected/")
    assert harness.keys_with_hash(sha8(data)) == [result.record.destination_key]


def test_key_with_spaces_plus_and_unicode(harness: Harness) -> None:
    key = harness.unique("My Trip + café/IMG 0001+2 ü%.png")
    data = variant("chelsea", 4)

    result = harness.upload(key, data)

    assert result.outcome.key != key  # the event carried the URL-encoded form, as S3 sends it
    assert result.record is not None and result.record.source_key == key
    assert result.record.destination_key.endswith(f"IMG 0001+2 ü%-{sha8(data)}.png")
    assert harness.keys_with_hash(sha8(data)) == [result.record.destination_key]


def test_duplicate_event_gives_one_record_one_count_one_copy(harness: Harness) -> None:
    data = variant("chelsea", 5)
    key = harness.unique("twice.png")
    first = harness.upload(key, data)
    event = harness.stack.executions()[first.outcome.arn]
    counts = {a.album: a.image_count for a in harness.repo.list_albums()}

    harness.stack.redeliver(event)  # one after the other
    harness.stack.wait_idle()
    threads = [threading.Thread(target=harness.stack.redeliver, args=(event,)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    outcomes = harness.stack.wait_idle()

    assert all(o.status == "SUCCEEDED" for o in outcomes if o.key == first.outcome.key)
    assert harness.record_for(key) == first.record
    assert {a.album: a.image_count for a in harness.repo.list_albums()} == counts
    assert harness.keys_with_hash(sha8(data)) == [first.record.destination_key]


def test_same_bytes_under_another_name_is_a_duplicate_set_aside(harness: Harness) -> None:
    data = variant("chelsea", 6)
    original = harness.upload(harness.unique("original.png"), data)
    counts = {a.album: a.image_count for a in harness.repo.list_albums()}

    copy_key = harness.unique("copy of original.png")
    copy = harness.upload(copy_key, data)

    assert copy.record is not None and copy.record.status is Status.DUPLICATE
    assert copy.record.duplicate_of == original.record.image_id
    assert copy.record.destination_key.startswith("duplicates/")
    assert copy.record.memberships == ()
    assert {a.album: a.image_count for a in harness.repo.list_albums()} == counts
    assert sorted(harness.keys_with_hash(sha8(data))) == sorted(
        [original.record.destination_key, copy.record.destination_key]
    )


def test_two_different_photos_with_the_same_name_both_survive(harness: Harness) -> None:
    folder = harness.unique("")
    a = harness.upload(f"{folder}IMG_0001.png", variant("chelsea", 7))
    b = harness.upload(f"{folder}sub/IMG_0001.png", variant("chelsea", 8))

    assert a.record.destination_key != b.record.destination_key
    assert a.record.destination_key in harness.keys() and b.record.destination_key in harness.keys()


def test_outputs_never_restart_the_workflow(harness: Harness) -> None:
    """Recursion guard: writes under any output prefix start no execution."""
    before = set(harness.stack.executions())
    for prefix in ("albums/", "inventory/", "unsorted/", "rejected/", "failed/", "duplicates/", "incomingx/"):
        harness.s3.put_object(Bucket=harness.stack.bucket, Key=f"{prefix}guard.png", Body=variant("chelsea", 9))
    harness.stack.wait_idle()
    assert set(harness.stack.executions()) == before


def test_deleted_before_inspection_ends_quietly(harness: Harness) -> None:
    data = variant("chelsea", 10)
    key = harness.unique("gone.png")
    first = harness.upload(key, data)
    event = json.loads(json.dumps(harness.stack.executions()[first.outcome.arn]))
    event["detail"]["object"]["key"] = event["detail"]["object"]["key"].replace("gone", "never-existed")

    arn = harness.stack.redeliver(event)
    harness.stack.wait_idle()

    outcome = harness.stack.outcome(arn)
    assert outcome.status == "SUCCEEDED"
    assert outcome.output["inspection"]["gone"] is True


def test_the_deployed_state_machine_is_the_templates(harness: Harness) -> None:
    """CloudFormation created it in the executing engine, as EXPRESS, with every substitution applied."""
    sfn = harness.stack.client("stepfunctions")
    described = sfn.describe_state_machine(stateMachineArn=harness.stack.state_machine_arn)
    assert described["type"] == "EXPRESS"
    definition = json.loads(described["definition"])
    assert "${" not in described["definition"]
    assert definition["States"]["Classify"]["Resource"].endswith(harness.stack.outputs["ClassifyFunctionName"])

"""photosort.backfill's pure parts and its lock and rerouted write against moto's DynamoDB."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from photosort import backfill, routing
from photosort.errors import ConfigurationError, StoreBusyError
from photosort.models import MAX_MODEL_VERSION, CollectionKind, ImageRecord, Label, Membership, Status
from photosort.repository import Repository
from tests.support.tables import moto_repository

NOW = datetime(2026, 12, 2, 7, 0, tzinfo=UTC)
FAMILY = routing.load_rules("family")


@pytest.fixture
def repo() -> Iterator[Repository]:
    yield from moto_repository()


def _record(labels: list[tuple[str, float]], **update: Any) -> ImageRecord:
    rec = ImageRecord(
        image_id="img1",
        bucket="b",
        source_key="old/IMG_1.jpg",
        destination_key="albums/pets/2026/IMG_1-abcdef12.jpg",
        status=Status.SORTED,
        reason="x",
        sha256="abcdef12" + "0" * 56,
        labels=tuple(Label(name=n, confidence=c) for n, c in labels),
        backend="local",
        model_version="v1",
        memberships=(Membership(album="pets", kind=CollectionKind.ALBUM, label="Cat", confidence=91.0),),
        created_at=NOW,
        updated_at=NOW,
    )
    return rec.model_copy(update=update)


@pytest.mark.parametrize(
    ("mode", "key", "expected"),
    [
        ("ingest", "old/a.jpg", True),
        ("ingest", "a.jpg", True),
        ("ingest", "incoming/a.jpg", False),
        ("ingest", "albums/pets/a.jpg", False),
        ("ingest", "thumbnails/x.webp", False),
        ("ingest", "backfill/run/manifest.json", False),
        ("ingest", "heads/h.json", False),
        ("ingest", "old/", False),
        ("reroute", "albums/pets/a.jpg", True),
        ("reroute", "unsorted/2026/a.jpg", True),
        ("reroute", "inventory/cars/a.jpg", True),
        ("reroute", "rejected/a.jpg", False),
        ("reclassify", "old/a.jpg", False),
    ],
)
def test_in_scope(mode: str, key: str, expected: bool) -> None:
    assert backfill.in_scope(backfill.Mode(mode), key) is expected


def test_rerouted_keeps_the_key_when_the_album_stays() -> None:
    rec = _record([("Cat", 91.0), ("Animal", 95.0)])
    new = backfill.rerouted(rec, FAMILY, NOW + timedelta(days=400))
    assert new.destination_key == rec.destination_key
    assert new.memberships[0].album == "pets"


def test_rerouted_moves_a_photo_whose_album_changes() -> None:
    rules = routing.parse_rules(json.dumps({"rules": [{"album": "cats", "labels": ["Cat"]}]}))
    new = backfill.rerouted(_record([("Cat", 91.0)]), rules, NOW)
    assert new.destination_key.startswith("albums/cats/") and new.destination_key.endswith("IMG_1-abcdef12.jpg")
    assert [m.album for m in new.memberships] == ["cats"]
    assert new.image_id == "img1" and new.created_at == NOW


def test_rerouted_to_unsorted_when_no_rule_matches() -> None:
    rules = routing.parse_rules(json.dumps({"rules": [{"album": "cars", "labels": ["Car"]}]}))
    new = backfill.rerouted(_record([("Cat", 91.0)]), rules, NOW)
    assert new.status is Status.UNSORTED and new.memberships == ()
    assert new.destination_key.startswith("unsorted/")


def test_save_rerouted_moves_memberships_and_counts(repo: Repository) -> None:
    rec = _record([("Cat", 91.0), ("Animal", 95.0)])
    rec = rec.model_copy(
        update={
            "memberships": (
                *rec.memberships,
                Membership(album="animals", kind=CollectionKind.ALBUM, label="Animal", confidence=95.0),
            )
        }
    )
    repo.save(rec, claim_hash=True)
    new = rec.model_copy(
        update={
            "memberships": (
                Membership(album="animals", kind=CollectionKind.ALBUM, label="Animal", confidence=96.0),
                Membership(album="cats", kind=CollectionKind.ALBUM, label="Cat", confidence=91.0),
            ),
            "destination_key": "albums/animals/2026/IMG_1-abcdef12.jpg",
            "updated_at": NOW + timedelta(seconds=1),
        }
    )
    backfill.save_rerouted(repo, rec, new)
    counts = {a.album: a.image_count for a in repo.list_albums()}
    assert counts == {"pets": 0, "animals": 1, "cats": 1}
    assert [e.label for e in repo.list_album("animals").items] == ["Animal"]
    assert repo.list_album("pets").items == []
    stored = repo.get("img1")
    assert stored is not None and stored.destination_key == new.destination_key
    # a second writer that read the old record is refused, and changes nothing
    with pytest.raises(StoreBusyError):
        backfill.save_rerouted(repo, rec, new)
    assert {a.album: a.image_count for a in repo.list_albums()} == counts


def test_the_lock_refuses_a_second_run_and_is_taken_over_from_a_stopped_one(repo: Repository) -> None:
    running = {"exec-1": True}
    lock = backfill.BackfillLock(repo.client, repo.table_name, lambda arn: running.get(arn, False))
    lock.acquire("exec-1", "ingest", NOW, timedelta(hours=1))
    lock.acquire("exec-1", "ingest", NOW, timedelta(hours=1))  # its own again (a retried Lock step)
    with pytest.raises(backfill.BackfillRunningError, match="exec-1"):
        lock.acquire("exec-2", "reroute", NOW, timedelta(hours=1))
    running["exec-1"] = False  # stopped without releasing
    lock.acquire("exec-2", "reroute", NOW, timedelta(hours=1))
    assert lock.holder() is not None and lock.holder()["holder"] == "exec-2"  # type: ignore[index]
    assert not lock.release("exec-1")
    assert lock.release("exec-2")
    assert lock.holder() is None


def test_an_expired_lock_is_free(repo: Repository) -> None:
    lock = backfill.BackfillLock(repo.client, repo.table_name, lambda arn: True)
    lock.acquire("exec-1", "ingest", NOW, timedelta(hours=1))
    lock.acquire("exec-2", "ingest", NOW + timedelta(hours=2), timedelta(hours=1))
    assert lock.holder()["holder"] == "exec-2"  # type: ignore[index]


def test_lock_step_returns_the_run_options_with_the_concurrency(repo: Repository) -> None:
    lock = backfill.BackfillLock(repo.client, repo.table_name, lambda arn: True)
    settings = backfill.BackfillSettings.from_env({"PHOTOSORT_BACKFILL_MAX_CONCURRENCY": "12"})
    request = backfill.LockRequest.model_validate(
        {"action": "acquire", "execution": "e", "options": {"mode": "ingest"}}
    )
    assert backfill.lock_step(lock, request, settings, NOW) == {
        "mode": "ingest",
        "prefix": "",
        "all": False,
        "manifest": None,
        "source": "listing",
        "manifest_bucket": None,
        "manifest_key": None,
        "max_concurrency": 12,
    }
    reroute = backfill.LockRequest.model_validate(
        {"action": "acquire", "execution": "e", "options": {"mode": "reroute"}}
    )
    assert backfill.lock_step(lock, reroute, settings, NOW)["max_concurrency"] == 100
    assert backfill.lock_step(lock, backfill.LockRequest(action="release", execution="e"), settings, NOW) == {
        "released": True
    }


def test_bad_settings_and_modes_are_named_errors() -> None:
    with pytest.raises(ConfigurationError, match="backfill"):
        backfill.BackfillSettings.from_env({"PHOTOSORT_BACKFILL_MAX_CONCURRENCY": "0"})
    with pytest.raises(ValueError, match="mode"):
        backfill.RunOptions.model_validate({"mode": "shuffle"})


def test_report_folds_result_files() -> None:
    ok = backfill.BatchResult(
        items=(
            backfill.ItemOutcome(key="a", outcome=backfill.Outcome.MOVED, from_album="pets", to_album="cats"),
            backfill.ItemOutcome(key="b", outcome=backfill.Outcome.ERROR, reason="Boom: no"),
            backfill.ItemOutcome(key="c", outcome=backfill.Outcome.UNCHANGED),
        )
    )
    entries = [
        {"Status": "SUCCEEDED", "Output": ok.model_dump_json(), "Input": "{}"},
        {
            "Status": "FAILED",
            "Error": "Lambda.Unknown",
            "Cause": "timed out",
            "Input": json.dumps({"Items": [{"key": "d"}, {"key": "e"}]}),
        },
        {  # a failed batch of inventory rows: their keys decoded
            "Status": "FAILED",
            "Error": "Lambda.Unknown",
            "Cause": "timed out",
            "Input": json.dumps({"Items": [{"Bucket": "photos", "Key": "old/a+b%2B.jpg", "Size": "3"}]}),
        },
    ]
    report = backfill.report(entries)
    assert report.outcomes == {"moved": 1, "error": 4, "unchanged": 1}
    assert report.moves == {("pets", "cats"): 1}
    assert report.failed_batches == 2
    assert [f["key"] for f in report.failed_items] == ["b", "d", "e", "old/a b+.jpg"]
    assert report.failed_items[1]["reason"] == "Lambda.Unknown: timed out"


class _Backend:
    """A classifier's identity as reclassify reads it (name, model version, the head applied now)."""

    def __init__(self, name: str = "local", model_version: str | None = "v1", labels_version: str | None = None):
        self.name = name
        self.model_version = model_version
        if labels_version is not None:
            self.labels_version = labels_version

    def classify(self, image: Any) -> Any:
        raise AssertionError("is_current never classifies")


@pytest.mark.parametrize(
    ("record_version", "backend", "current"),
    [
        ("v1", _Backend(), True),
        ("v1", _Backend(name="rekognition", model_version=None), False),  # another backend
        ("v0", _Backend(), False),  # another model version
        ("v1", _Backend(labels_version="v1+head:pets@aaaaaaaaaaaa"), False),  # a head attached since
        ("v1+head:pets@aaaaaaaaaaaa", _Backend(labels_version="v1+head:pets@aaaaaaaaaaaa"), True),
        ("v1+head:pets@aaaaaaaaaaaa", _Backend(labels_version="v1+head:pets@bbbbbbbbbbbb"), False),  # retrained
        ("v1+head:pets@aaaaaaaaaaaa", _Backend(labels_version="v1+head:cats@aaaaaaaaaaaa"), False),  # another head
        ("v1+head:pets@aaaaaaaaaaaa", _Backend(), False),  # the head was detached
    ],
)
def test_reclassify_redoes_records_of_another_backend_model_or_head(
    record_version: str, backend: _Backend, current: bool
) -> None:
    record = _record([("Cat", 91.0)], model_version=record_version)
    assert backfill.is_current(record, backend) is current  # type: ignore[arg-type]


def test_a_backend_without_a_model_version_is_current_by_name() -> None:
    record = _record([("Cat", 91.0)], backend="rekognition", model_version="whatever")
    assert backfill.is_current(record, _Backend(name="rekognition", model_version=None))  # type: ignore[arg-type]


def test_the_current_version_is_capped_as_the_record_is() -> None:
    long = "m" * 100 + "+head:" + "h" * 63 + "@aaaaaaaaaaaa"
    record = _record([("Cat", 91.0)], model_version=long[:MAX_MODEL_VERSION])
    assert backfill.current_version(_Backend(labels_version=long)) == long[:128]  # type: ignore[arg-type]
    assert backfill.is_current(record, _Backend(labels_version=long))  # type: ignore[arg-type]


# -- S3 Inventory rows ------------------------------------------------------------------------------------------
RUN = backfill.BatchSettings(mode=backfill.Mode.INGEST, bucket="photos")


def _row(key: str, **columns: str) -> backfill.BackfillItem:
    return backfill.BackfillItem.model_validate({"Bucket": "photos", "Key": key, "Size": "12", **columns})


def test_an_inventory_row_is_an_item_with_its_key_decoded() -> None:
    item = _row("old/Summer+2019/%C3%A9t%C3%A9%2B1+100%25.jpg", ETag="abc", LastModifiedDate="x", StorageClass="S")
    assert (item.bucket, item.size, item.etag, item.encoded) == ("photos", 12, "abc", True)
    assert item.object_key == "old/Summer 2019/été+1 100%.jpg"
    admitted = backfill.admit(RUN, item)
    assert isinstance(admitted, backfill.BackfillItem)
    assert admitted.key == "old/Summer 2019/été+1 100%.jpg" and not admitted.encoded
    # a listed key is taken as it is (a plus stays a plus)
    listed = backfill.BackfillItem(key="old/a+b.jpg", size=3)
    assert backfill.admit(RUN, listed) == listed
    # a delete marker's empty Size is 0, not a failed batch
    assert backfill.BackfillItem.model_validate({"Key": "a", "Size": ""}).size == 0


@pytest.mark.parametrize(
    ("item", "run", "reason"),
    [
        (_row("old/a.jpg", Bucket="other"), RUN, "in bucket other, not photos (an inventory of another bucket)"),
        (_row("old/a.jpg", IsDeleteMarker="true"), RUN, "a delete marker (the inventory lists versions)"),
        (_row("old/a.jpg", IsLatest="false"), RUN, "not the current version (the inventory lists versions)"),
        (_row("new/a.jpg"), RUN.model_copy(update={"prefix": "old/"}), "outside the prefix 'old/'"),
        (_row("albums/pets/a.jpg"), RUN, "outside this mode's prefixes"),
        (_row("backfill/run/SUCCEEDED_0.json"), RUN, "outside this mode's prefixes"),
        (_row("old/"), RUN, "outside this mode's prefixes"),
    ],
)
def test_inventory_rows_that_are_not_items_are_skipped_with_their_reason(
    item: backfill.BackfillItem, run: backfill.BatchSettings, reason: str
) -> None:
    outcome = backfill.admit(run, item)
    assert isinstance(outcome, backfill.ItemOutcome)
    assert outcome.outcome is backfill.Outcome.SKIPPED and outcome.reason == reason


def test_current_rows_of_a_versioned_inventory_are_items() -> None:
    assert isinstance(
        backfill.admit(RUN, _row("old/a.jpg", IsLatest="true", IsDeleteMarker="false")), backfill.BackfillItem
    )


def test_process_batch_skips_rows_without_calling_the_mode(repo: Repository) -> None:
    ctx = backfill.Context(
        s3=None,
        repo=repo,
        rules=lambda: FAMILY,
        backend=lambda: None,  # type: ignore[arg-type,return-value]
        duplicate_policy=None,
        near=None,
        settings=None,  # type: ignore[arg-type]
    )
    event = backfill.BatchEvent.model_validate(
        {
            "Items": [{"Bucket": "x", "Key": "a.jpg"}, {"Bucket": "photos", "Key": "albums/a.jpg"}],
            "BatchInput": {"mode": "ingest", "bucket": "photos"},
        }
    )
    result = backfill.process_batch(ctx, event)
    assert [(i.key, i.outcome) for i in result.items] == [
        ("a.jpg", backfill.Outcome.SKIPPED),
        ("albums/a.jpg", backfill.Outcome.SKIPPED),
    ]


def test_the_manifest_option_is_an_s3_uri_of_a_json_manifest() -> None:
    ok = backfill.RunOptions(
        mode=backfill.Mode.INGEST, manifest="s3://inv-bucket/reports/photos/cfg/2026-12-01T00-00Z/manifest.json"
    )
    assert ok.source is backfill.Source.MANIFEST
    assert backfill.RunOptions(mode=backfill.Mode.INGEST, manifest="").source is backfill.Source.LISTING
    for bad in ("inv-bucket/manifest.json", "s3://inv-bucket/", "s3://Inv_Bucket/m.json", "s3://b/x/manifest.csv"):
        with pytest.raises(ValueError, match="manifest must be s3://"):
            backfill.RunOptions(mode=backfill.Mode.INGEST, manifest=bad)


def test_a_manifest_is_read_only_under_the_configured_inventory_destination(repo: Repository) -> None:
    uri = "s3://inv-bucket/reports/photos/cfg/2026-12-01T00-00Z/manifest.json"
    none = backfill.BackfillSettings.from_env({"PHOTOSORT_BACKFILL_INVENTORY": ""})
    with pytest.raises(backfill.InventoryNotAllowedError, match="reads no S3 Inventory"):
        none.check_manifest(uri)
    here = backfill.BackfillSettings.from_env({"PHOTOSORT_BACKFILL_INVENTORY": "s3://inv-bucket/reports/"})
    assert here.check_manifest(uri) == ("inv-bucket", "reports/photos/cfg/2026-12-01T00-00Z/manifest.json")
    with pytest.raises(backfill.InventoryNotAllowedError, match="not under this stack's S3 Inventory destination"):
        here.check_manifest("s3://inv-bucket/elsewhere/manifest.json")
    # the Lock step refuses it before it takes the lock, and hands the machine the manifest's bucket and key
    lock = backfill.BackfillLock(repo.client, repo.table_name, lambda arn: True)
    refused = backfill.LockRequest.model_validate(
        {"action": "acquire", "execution": "e1", "options": {"mode": "ingest", "manifest": "s3://x-bucket/m.json"}}
    )
    with pytest.raises(backfill.InventoryNotAllowedError):
        backfill.lock_step(lock, refused, here, NOW)
    assert lock.holder() is None
    request = backfill.LockRequest.model_validate(
        {"action": "acquire", "execution": "e2", "options": {"mode": "ingest", "prefix": "old/", "manifest": uri}}
    )
    out = backfill.lock_step(lock, request, here, NOW)
    assert (out["source"], out["manifest_bucket"], out["manifest_key"], out["prefix"]) == (
        "manifest",
        "inv-bucket",
        "reports/photos/cfg/2026-12-01T00-00Z/manifest.json",
        "old/",
    )

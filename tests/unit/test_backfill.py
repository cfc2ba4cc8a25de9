"""photosort.backfill's pure parts and its lock and rerouted write against moto's DynamoDB."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from photosort import backfill, routing
from photosort.errors import ConfigurationError, StoreBusyError
from photosort.models import CollectionKind, ImageRecord, Label, Membership, Status
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
    ]
    report = backfill.report(entries)
    assert report.outcomes == {"moved": 1, "error": 3, "unchanged": 1}
    assert report.moves == {("pets", "cats"): 1}
    assert report.failed_batches == 1
    assert [f["key"] for f in report.failed_items] == ["b", "d", "e"]
    assert report.failed_items[1]["reason"] == "Lambda.Unknown: timed out"

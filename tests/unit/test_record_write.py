"""``pipeline.record``, the thin write around the decision, against moto DynamoDB (table from template.yaml)."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from photosort import pipeline
from photosort.models import Inspection, ObjectRef, Status
from photosort.repository import Repository
from photosort.settings import DuplicatePolicy
from tests.unit.test_record import CAT, RULES, inspection
from tests.unit.test_repository import TABLE, table_definition


@pytest.fixture
def repo() -> Iterator[Repository]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(TableName=TABLE, **table_definition())
        yield Repository(client, TABLE)


def upload(key: str) -> Inspection:
    """The same bytes (same hash) uploaded under ``key``: a new object, so a new image id."""
    found = inspection(key)
    return found.model_copy(update={"object": ObjectRef(bucket="photos", key=key, size=10, etag=key)})


@pytest.mark.parametrize(
    ("policy", "prefix"),
    [(DuplicatePolicy.SORT, "albums/pets/2024/07/"), (DuplicatePolicy.SET_ASIDE, "duplicates/second/")],
)
def test_the_same_bytes_again_are_recorded_as_a_duplicate_counted_once(
    repo: Repository, policy: DuplicatePolicy, prefix: str
) -> None:
    first = pipeline.record(repo, RULES, policy, upload("incoming/first/cat.jpg"), CAT)

    second = pipeline.record(repo, RULES, policy, upload("incoming/second/cat.jpg"), CAT)

    assert first.status is Status.SORTED and first.created
    assert second.status is Status.DUPLICATE and second.duplicate_of == first.image_id and second.created
    assert second.destination_key.startswith(prefix) and second.memberships == ()
    assert {a.album: a.image_count for a in repo.list_albums()} == {"pets": 1, "food": 1}
    stored = repo.get(second.image_id)
    assert stored is not None and stored.status is Status.DUPLICATE and stored.reason.endswith(policy.value)


def test_a_replayed_event_returns_the_stored_decision(repo: Repository) -> None:
    first = pipeline.record(repo, RULES, DuplicatePolicy.SET_ASIDE, upload("incoming/a/cat.jpg"), CAT)

    again = pipeline.record(repo, RULES, DuplicatePolicy.SET_ASIDE, upload("incoming/a/cat.jpg"), CAT)

    assert not again.created and again.model_copy(update={"created": True}) == first
    assert {a.album: a.image_count for a in repo.list_albums()} == {"pets": 1, "food": 1}

"""The DynamoDB repository: one table, designed for the access patterns in README ("Data model").

| item            | PK                 | SK                        | GSI1 (by hash)        | GSI2 (by key)       |
|-----------------|--------------------|---------------------------|-----------------------|---------------------|
| image record    | ``IMAGE#<id>``     | ``IMAGE``                 | ``SHA#<sha256>``/time | ``KEY#<dest key>``  |
| hash claim      | ``SHA#<sha256>``   | ``CLAIM``                 |                       |                     |
| album member    | ``ALBUM#<album>``  | ``<taken time>#<id>``     |                       |                     |
| album counter   | ``ALBUMS``         | ``ALBUM#<album>``         |                       |                     |

Every write that changes an album is one transaction with its counter, so counts always equal members, and
every put is conditional, so a replayed event changes nothing.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from photosort.errors import HashClaimedError, PhotosortError, StoreBusyError
from photosort.models import AlbumEntry, AlbumSummary, ImageRecord, Membership, Page, Status

_ser = TypeSerializer()
_de = TypeDeserializer()


def _to_ddb(value: Any) -> dict[str, Any]:
    return _ser.serialize(json.loads(json.dumps(value), parse_float=Decimal))


def _item(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: _to_ddb(v) for k, v in fields.items() if v is not None}


def _from_ddb(item: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps({k: _de.deserialize(v) for k, v in item.items()}, default=_decimal))


def _decimal(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(type(value))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds") if moment.tzinfo else moment.isoformat()


class Repository:
    """Reads and writes photosort's table. ``client`` is a boto3 DynamoDB client built by the caller."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._db = client
        self._table = table_name

    # -- writes -----------------------------------------------------------------------------------------
    def save(self, record: ImageRecord, *, claim_hash: bool) -> tuple[ImageRecord, bool]:
        """Write a new record with its memberships and counts in one transaction.

        Returns (record as stored, created). A replay returns the stored record with ``created=False``.
        Raises HashClaimedError when ``claim_hash`` is set and another image owns the same bytes.
        """
        image_item = self._image_item(record)
        ops: list[dict[str, Any]] = [
            {"Put": {"TableName": self._table, "Item": image_item, "ConditionExpression": "attribute_not_exists(PK)"}}
        ]
        if claim_hash and record.sha256:
            ops.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": _item({"PK": f"SHA#{record.sha256}", "SK": "CLAIM", "image_id": record.image_id}),
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                }
            )
        ops.extend(self._membership_ops(record, record.memberships, +1))
        try:
            self._db.transact_write_items(TransactItems=ops)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            stored = self.get(record.image_id)
            if stored is not None:
                return stored, False
            if claim_hash and len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
                owner = self.hash_owner(record.sha256 or "")
                if owner and owner != record.image_id:
                    raise HashClaimedError(owner) from exc
            raise StoreBusyError(f"transaction for image {record.image_id} cancelled: {reasons}") from exc
        return record, True

    def mark_failed(self, record: ImageRecord) -> ImageRecord:
        """Record a failure. An existing record is flipped to failed and leaves its albums (counts follow)."""
        for _ in range(5):
            stored = self.get(record.image_id)
            if stored is None:
                saved, _created = self.save(record.model_copy(update={"memberships": ()}), claim_hash=False)
                return saved
            if stored.status is Status.FAILED:
                return stored
            failed = stored.model_copy(
                update={
                    "status": Status.FAILED,
                    "reason": record.reason,
                    "error": record.error,
                    "destination_key": record.destination_key,
                    "memberships": (),
                    "updated_at": datetime.now(UTC),
                }
            )
            ops: list[dict[str, Any]] = [
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": self._image_item(failed),
                        "ConditionExpression": "#s = :old",
                        "ExpressionAttributeNames": {"#s": "status"},
                        "ExpressionAttributeValues": {":old": _to_ddb(stored.status.value)},
                    }
                }
            ]
            ops.extend(self._membership_ops(stored, stored.memberships, -1))
            if stored.sha256 and self.hash_owner(stored.sha256) == stored.image_id:
                ops.append(
                    {
                        "Delete": {
                            "TableName": self._table,
                            "Key": _item({"PK": f"SHA#{stored.sha256}", "SK": "CLAIM"}),
                        }
                    }
                )
            try:
                self._db.transact_write_items(TransactItems=ops)
                return failed
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "TransactionCanceledException":
                    raise
        raise PhotosortError(f"could not mark image {record.image_id} failed: it kept changing")

    def _image_item(self, record: ImageRecord) -> dict[str, Any]:
        data = record.model_dump(mode="json", exclude_none=True)
        data["albums"] = [m.album for m in record.memberships]
        keys = {"PK": f"IMAGE#{record.image_id}", "SK": "IMAGE", "type": "image"}
        keys["GSI2PK"] = f"KEY#{record.destination_key}"
        keys["GSI2SK"] = "IMAGE"
        if record.sha256:
            keys["GSI1PK"] = f"SHA#{record.sha256}"
            keys["GSI1SK"] = f"{data['created_at']}#{record.image_id}"
        return _item({**data, **keys})

    def _membership_ops(
        self, record: ImageRecord, memberships: Sequence[Membership], delta: int
    ) -> Iterator[dict[str, Any]]:
        when = _iso(record.sort_time)
        for m in memberships:
            member_key = {"PK": f"ALBUM#{m.album}", "SK": f"{when}#{record.image_id}"}
            if delta > 0:
                entry = {
                    **member_key,
                    "type": "member",
                    "album": m.album,
                    "image_id": record.image_id,
                    "destination_key": record.destination_key,
                    "label": m.label,
                    "confidence": m.confidence,
                    "taken_at": when,
                }
                yield {"Put": {"TableName": self._table, "Item": _item(entry)}}
            else:
                yield {"Delete": {"TableName": self._table, "Key": _item(member_key)}}
            yield {
                "Update": {
                    "TableName": self._table,
                    "Key": _item({"PK": "ALBUMS", "SK": f"ALBUM#{m.album}"}),
                    "UpdateExpression": "ADD image_count :d SET album = :a, kind = :k, #t = :t",
                    "ExpressionAttributeNames": {"#t": "type"},
                    "ExpressionAttributeValues": _item({":d": delta, ":a": m.album, ":k": m.kind.value, ":t": "album"}),
                }
            }

    # -- reads ------------------------------------------------------------------------------------------
    def get(self, image_id: str) -> ImageRecord | None:
        found = self._db.get_item(
            TableName=self._table, Key=_item({"PK": f"IMAGE#{image_id}", "SK": "IMAGE"}), ConsistentRead=True
        )
        return ImageRecord.model_validate(_from_ddb(found["Item"])) if "Item" in found else None

    def hash_owner(self, sha256: str) -> str | None:
        found = self._db.get_item(
            TableName=self._table, Key=_item({"PK": f"SHA#{sha256}", "SK": "CLAIM"}), ConsistentRead=True
        )
        return _from_ddb(found["Item"])["image_id"] if "Item" in found else None

    def scan_images(self) -> Iterator[ImageRecord]:
        """Every image record (a full table scan: for tools and tests, never for the pipeline)."""
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": "#t = :t",
            "ExpressionAttributeNames": {"#t": "type"},
            "ExpressionAttributeValues": _item({":t": "image"}),
        }
        while True:
            resp = self._db.scan(**kwargs)
            for item in resp.get("Items", []):
                yield ImageRecord.model_validate(_from_ddb(item))
            if "LastEvaluatedKey" not in resp:
                return
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def list_albums(self) -> list[AlbumSummary]:
        albums: list[AlbumSummary] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk",
            "ExpressionAttributeValues": _item({":pk": "ALBUMS"}),
        }
        while True:
            resp = self._db.query(**kwargs)
            albums.extend(AlbumSummary.model_validate(_from_ddb(i)) for i in resp.get("Items", []))
            if "LastEvaluatedKey" not in resp:
                return albums
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def list_album(self, album: str, *, limit: int = 50, next_token: str | None = None) -> Page:
        """One album's images, newest first, ``limit`` per page; pass ``next_token`` for the next page."""
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk",
            "ExpressionAttributeValues": _item({":pk": f"ALBUM#{album}"}),
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if next_token:
            kwargs["ExclusiveStartKey"] = json.loads(base64.urlsafe_b64decode(next_token.encode()))
        resp = self._db.query(**kwargs)
        items = [AlbumEntry.model_validate(_from_ddb(i)) for i in resp.get("Items", [])]
        last = resp.get("LastEvaluatedKey")
        token = base64.urlsafe_b64encode(json.dumps(last).encode()).decode() if last else None
        return Page(items=items, next_token=token)

"""The DynamoDB repository: one table, designed for the access patterns in README ("Data model").

| item            | PK                 | SK                        | attributes                                        |
|-----------------|--------------------|---------------------------|---------------------------------------------------|
| image record    | ``IMAGE#<id>``     | ``IMAGE``                 | scalars; labels, faces, metadata, albums in ``d`` |
| bytes           | ``SHA#<sha256>``   | ``CLAIM``                 | ``image_id`` (the owner), ``others`` (id set)     |
| album member    | ``ALBUM#<album>``  | ``<taken time>#<id>``     | image id, key, label, confidence                  |
| album           | ``ALBUMS``         | ``ALBUM#<album>``         | kind (no count: counts are Query COUNTs)          |

No global secondary index, no transaction on the normal path (a sorted photo costs 1 + 1 + albums write units):
:meth:`Repository.save` makes ordered conditional writes, each safe to replay. The bytes item first (the claim,
conditional), then the record (conditional: the commit point; a replay finds it and stops), then the album
members (idempotent puts; :meth:`Repository.repair` re-puts them for a record found on a replay, so a crash
between the record and its members heals on the retry). Album counts are counted from the members, so they
always equal them. The record keeps the bulky fields (labels, faces, metadata, memberships) zlib-compressed in
one binary attribute ``d``, under 1 KB for a typical photo; the embedding is not stored in it (the
near-duplicate index keeps it, photosort.neardup). The failure path (:meth:`Repository.mark_failed`) and the
backfill's reroute (:meth:`Repository.reroute`) keep one transaction each: they are rare, and atomic there.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from photosort.errors import HashClaimedError, InvalidPageTokenError, PhotosortError, StoreBusyError
from photosort.models import AlbumEntry, AlbumSummary, ImagePage, ImageRecord, Membership, Page, Status

_ser = TypeSerializer()
_de = TypeDeserializer()

# DynamoDB's "slow down" answers: transient, so they become StoreBusyError, which the state machine retries.
THROTTLING_CODES = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded", "LimitExceededException"}
)


class _ThrottleAsBusy:
    """Wraps a DynamoDB client: a throttled call raises StoreBusyError (retried), every other error unchanged."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if not callable(method):
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code in THROTTLING_CODES:
                    raise StoreBusyError(f"DynamoDB {name} throttled ({code}); retried by the state machine") from exc
                raise

        return call


def _encode_token(last_key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(last_key, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_token(token: str, belongs: Callable[[str, str], bool]) -> dict[str, Any]:
    """The ExclusiveStartKey a token stands for; InvalidPageTokenError unless it is a key of this listing."""
    try:
        key = json.loads(base64.urlsafe_b64decode(token.encode("ascii") + b"=" * (-len(token) % 4)))
    except (ValueError, UnicodeError) as exc:
        raise InvalidPageTokenError("the page token is malformed") from exc
    if not isinstance(key, dict) or not all(
        isinstance(v, dict) and list(v) == ["S"] and isinstance(v["S"], str) for v in key.values()
    ):
        raise InvalidPageTokenError("the page token is malformed")
    pk, sk = key.get("PK", {}).get("S"), key.get("SK", {}).get("S")
    if pk is None or sk is None or not belongs(pk, sk):
        raise InvalidPageTokenError("the page token belongs to another listing")
    return key


def _to_ddb(value: Any) -> dict[str, Any]:
    serialized: Any = _ser.serialize(json.loads(json.dumps(value), parse_float=Decimal))  # a TypedDict in the stubs
    return serialized


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


# Attributes of a record kept as they are: its key, what conditions and the README's queries read. Everything else
# is zlib-compressed JSON in ``d`` (with a preset dictionary of the words every record repeats).
TOP_LEVEL = ("image_id", "status", "destination_key", "reason", "updated_at")
NOT_STORED = frozenset({"embedding"})  # the near-duplicate index keeps it (photosort.neardup)
STALE_CLAIM = timedelta(minutes=10)  # longer than any execution (Express: 5 minutes): its owner died unrecorded
# zlib's preset dictionary: what records repeat (keys, the label taxonomy's categories and common parents), so a
# record's few hundred bytes compress as well as a long document would. Changing it makes stored records
# unreadable: append a versioned dictionary instead.
_ZDICT = (
    b'"parents":["Animal","Dog","Vehicle","Structure","Bird","Container","Clothing","Food","Reptile","Insect",'
    b'"Musical instrument","Nature","Furniture","Electronics","Primate","Building","Sports equipment","Boat",'
    b'"Tool","Person"],"categories":["Animals and Pets","Apparel and Accessories","Buildings and Architecture",'
    b'"Everyday Objects","Food and Beverage","Hobbies and Interests","Home and Indoors","Nature and Outdoors",'
    b'"Plants and Flowers","Sports","Technology and Computing","Tools and Machinery","Vehicles and Automotive",'
    b'"Person Description"]},{"bucket":"","source_key":"incoming/","sha256":"","created_at":"","backend":"local",'
    b'"model_version":"efficientnet-lite0-imagenet-fp32-+mtcnn-facenet-pytorch-","face_count":0,"faces":[{"left"'
    b':0.,"top":0.,"width":0.,"height":0.,"confidence":99.}],"metadata":{"format":"JPEG","width":,"height":,'
    b'"mode":"RGB","frames":1,"taken_at":null,"camera_make":"","camera_model":"","orientation":1},"memberships":'
    b'[{"album":"","kind":"album","label":"","confidence":}],"labels":[{"name":"","confidence":,"parents":[],'
    b'"categories":["'
)


def image_key(image_id: str) -> dict[str, Any]:
    return _item({"PK": f"IMAGE#{image_id}", "SK": "IMAGE"})


def bytes_key(sha256: str) -> dict[str, Any]:
    return _item({"PK": f"SHA#{sha256}", "SK": "CLAIM"})


def _pack(fields: dict[str, Any]) -> bytes:
    packer = zlib.compressobj(9, zdict=_ZDICT)
    return packer.compress(json.dumps(fields, separators=(",", ":")).encode()) + packer.flush()


def _unpack(data: bytes) -> dict[str, Any]:
    unpacker = zlib.decompressobj(zdict=_ZDICT)
    unpacked: dict[str, Any] = json.loads(unpacker.decompress(data) + unpacker.flush())
    return unpacked


def encode_record(record: ImageRecord) -> dict[str, Any]:
    """The record as one item: the keys and ``TOP_LEVEL`` as attributes, the rest compressed in ``d``."""
    data = record.model_dump(mode="json", exclude_none=True, exclude=set(NOT_STORED))
    top = {k: data.pop(k) for k in TOP_LEVEL}
    rest = {k: v for k, v in data.items() if v not in ((), [], {})}
    item = _item({**top, "PK": f"IMAGE#{record.image_id}", "SK": "IMAGE", "type": "image"})
    item["d"] = {"B": _pack(rest)}
    return item


def decode_record(item: dict[str, Any]) -> ImageRecord:
    packed = item.get("d", {}).get("B")
    fields = _from_ddb({k: v for k, v in item.items() if k != "d"})
    if packed is not None:
        fields.update(_unpack(bytes(packed)))
    return ImageRecord.model_validate(fields)


def item_size(item: dict[str, Any]) -> int:
    """DynamoDB's size of an item: attribute names plus values (strings UTF-8, binary raw, numbers ~digits/2)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    ((kind, v),) = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "B":
        return len(v)
    if kind == "N":
        return (len(v.lstrip("-").replace(".", "")) + 1) // 2 + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(x.encode()) for x in v)
    if kind == "L":
        return 3 + sum(1 + _value_size(x) for x in v)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + _value_size(x) for k, x in v.items())
    raise ValueError(f"no size for a {kind} value")


def write_units(item: dict[str, Any]) -> int:
    """Write request units of one standard (non-transactional) write of ``item``: 1 per started KB."""
    return max(1, -(-item_size(item) // 1024))


class Repository:
    """Reads and writes photosort's table. ``client`` is a boto3 DynamoDB client built by the caller."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._db = _ThrottleAsBusy(client)
        self._table = table_name
        self._known_albums: set[str] = set()  # album items this process has seen: no read per photo for them

    # -- writes -----------------------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        return self._db

    @property
    def table_name(self) -> str:
        return self._table

    def save(
        self, record: ImageRecord, *, claim_hash: bool, extra_items: Sequence[dict[str, Any]] = ()
    ) -> tuple[ImageRecord, bool]:
        """Write a new record with its album members, in order, each write safe to replay (no transaction).

        1. the bytes item: with ``claim_hash`` the conditional claim (the owner), else this id joins its
           ``others``; 2. the record, conditional on not existing (the commit point); 3. ``extra_items`` (the
           near-duplicate index item of a first photo) and the album members, plain idempotent puts.
        Returns (record as stored, created). A replay returns the stored record with ``created=False`` (and
        repairs its members). Raises HashClaimedError when ``claim_hash`` is set and another recorded image owns
        the same bytes, StoreBusyError while an owner claimed them moments ago and has not recorded yet.
        """
        if record.sha256:
            if claim_hash:
                self._claim(record.sha256, record.image_id)
            else:
                self._join_bytes(record.sha256, record.image_id)
        self._ensure_albums(record.memberships)
        try:
            self._db.put_item(
                TableName=self._table, Item=encode_record(record), ConditionExpression="attribute_not_exists(PK)"
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            stored = self.get(record.image_id)
            if stored is None:
                raise StoreBusyError(f"image {record.image_id} was written and removed meanwhile") from exc
            if claim_hash and record.sha256 and stored.status is Status.FAILED:
                self._release(record.sha256, record.image_id)  # a failed photo owns no bytes (our claim was late)
            self.repair(stored)
            return stored, False
        for item in extra_items:
            self._db.put_item(TableName=self._table, Item=item)
        self._put_members(record)
        return record, True

    def repair(self, record: ImageRecord) -> None:
        """Re-put the album members of a stored record (idempotent): for a record found on a replay."""
        self._put_members(record)

    def _put_members(self, record: ImageRecord) -> None:
        for item in self._member_items(record, record.memberships):
            self._db.put_item(TableName=self._table, Item=item)

    def _claim(self, sha256: str, image_id: str) -> None:
        now = datetime.now(UTC).isoformat()
        try:
            self._db.update_item(
                TableName=self._table,
                Key=bytes_key(sha256),
                UpdateExpression="SET image_id = :me, claimed_at = :now",
                ConditionExpression="attribute_not_exists(image_id) OR image_id = :me",
                ExpressionAttributeValues=_item({":me": image_id, ":now": now}),
            )
            return
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
        found = self._db.get_item(TableName=self._table, Key=bytes_key(sha256), ConsistentRead=True).get("Item")
        if found is None or "image_id" not in found:
            raise StoreBusyError(f"the claim on {sha256[:12]} changed meanwhile; retried")
        owner, claimed_at = found["image_id"]["S"], found.get("claimed_at", {}).get("S", "")
        if self.get(owner) is not None:
            raise HashClaimedError(owner)
        # The owner claimed the bytes but has no record: it is writing it right now (retry in a moment), or its
        # execution died between the two writes (a claim older than any execution): then this image takes over.
        if claimed_at and datetime.fromisoformat(claimed_at) > datetime.now(UTC) - STALE_CLAIM:
            raise StoreBusyError(f"image {owner} claimed these bytes and has not recorded yet; retried")
        try:
            self._db.update_item(
                TableName=self._table,
                Key=bytes_key(sha256),
                UpdateExpression="SET image_id = :me, claimed_at = :now",
                ConditionExpression="image_id = :owner",
                ExpressionAttributeValues=_item({":me": image_id, ":now": now, ":owner": owner}),
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise StoreBusyError(f"the claim on {sha256[:12]} changed meanwhile; retried") from exc
            raise

    def _release(self, sha256: str, image_id: str) -> None:
        try:
            self._db.update_item(
                TableName=self._table,
                Key=bytes_key(sha256),
                UpdateExpression="REMOVE image_id, claimed_at",
                ConditionExpression="image_id = :me",
                ExpressionAttributeValues=_item({":me": image_id}),
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def _join_bytes(self, sha256: str, image_id: str) -> None:
        """Name this image among the bytes' records (a duplicate, a rejection, a failure): found by hash later."""
        self._db.update_item(
            TableName=self._table,
            Key=bytes_key(sha256),
            UpdateExpression="ADD #o :me",
            ExpressionAttributeNames={"#o": "others"},
            ExpressionAttributeValues={":me": {"SS": [image_id]}},
        )

    def _ensure_albums(self, memberships: Sequence[Membership]) -> None:
        """The album items of these memberships exist (read once per process per album, written once ever)."""
        unknown = {m.album: m for m in memberships if m.album not in self._known_albums}
        if not unknown:
            return
        found = self._db.batch_get_item(
            RequestItems={
                self._table: {
                    "Keys": [_item({"PK": "ALBUMS", "SK": f"ALBUM#{a}"}) for a in unknown],
                    "ProjectionExpression": "SK",
                }
            }
        )
        present = {i["SK"]["S"].removeprefix("ALBUM#") for i in found.get("Responses", {}).get(self._table, [])}
        for album, m in unknown.items():
            if album not in present:
                self._db.put_item(
                    TableName=self._table,
                    Item=_item(
                        {"PK": "ALBUMS", "SK": f"ALBUM#{album}", "type": "album", "album": album, "kind": m.kind.value}
                    ),
                )
            self._known_albums.add(album)

    def mark_failed(self, record: ImageRecord) -> ImageRecord:
        """Record a failure. An existing record is flipped to failed and leaves its albums (one transaction).

        The failure path is rare, so it stays atomic: the record, its members and its claim on the bytes change
        together (the bytes keep naming it among their ``others``, so the sweeper can still find it by hash).
        """
        for _ in range(5):
            stored = self.get(record.image_id)
            if stored is None:
                saved, _created = self.save(record.model_copy(update={"memberships": ()}), claim_hash=False)
                if record.sha256:  # Record may have claimed the bytes and stopped before its record
                    self._release(record.sha256, record.image_id)
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
                        "Item": encode_record(failed),
                        "ConditionExpression": "#s = :old",
                        "ExpressionAttributeNames": {"#s": "status"},
                        "ExpressionAttributeValues": {":old": _to_ddb(stored.status.value)},
                    }
                }
            ]
            ops.extend(self._member_deletes(stored, stored.memberships))
            if stored.sha256:
                owned = self.hash_owner(stored.sha256) == stored.image_id
                ops.append(
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": bytes_key(stored.sha256),
                            "UpdateExpression": ("REMOVE image_id, claimed_at " if owned else "") + "ADD #o :me",
                            "ExpressionAttributeNames": {"#o": "others"},
                            "ExpressionAttributeValues": {":me": {"SS": [stored.image_id]}},
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

    def reroute(self, old: ImageRecord, new: ImageRecord) -> None:
        """Write ``new`` over ``old`` with its album members, in one conditional transaction (the backfill).

        Albums the photo leaves lose its member item, albums it joins or stays in get theirs (re)written; counts
        follow, since they are counted from the members. Refused (StoreBusyError, retried) if the record changed
        since it was read, so two writers never both apply a move.
        """
        ops: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": encode_record(new),
                    "ConditionExpression": "updated_at = :u AND destination_key = :d",
                    "ExpressionAttributeValues": {
                        ":u": {"S": old.model_dump(mode="json")["updated_at"]},
                        ":d": {"S": old.destination_key},
                    },
                }
            }
        ]
        kept = {m.album for m in new.memberships}
        stale = [m for m in old.memberships if m.album not in kept or _iso(old.sort_time) != _iso(new.sort_time)]
        ops += self._member_deletes(old, stale)
        ops += [{"Put": {"TableName": self._table, "Item": item}} for item in self._member_items(new, new.memberships)]
        self._ensure_albums(new.memberships)
        try:
            self._db.transact_write_items(TransactItems=ops)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "TransactionCanceledException":
                raise StoreBusyError(f"image {old.image_id} changed while it was rerouted; retried") from exc
            raise

    def _member_items(self, record: ImageRecord, memberships: Sequence[Membership]) -> list[dict[str, Any]]:
        when = _iso(record.sort_time)
        return [
            _item(
                {
                    "PK": f"ALBUM#{m.album}",
                    "SK": f"{when}#{record.image_id}",
                    "type": "member",
                    "album": m.album,
                    "image_id": record.image_id,
                    "destination_key": record.destination_key,
                    "label": m.label,
                    "confidence": m.confidence,
                    "taken_at": when,
                }
            )
            for m in memberships
        ]

    def _member_deletes(self, record: ImageRecord, memberships: Sequence[Membership]) -> list[dict[str, Any]]:
        when = _iso(record.sort_time)
        return [
            {
                "Delete": {
                    "TableName": self._table,
                    "Key": _item({"PK": f"ALBUM#{m.album}", "SK": f"{when}#{record.image_id}"}),
                }
            }
            for m in memberships
        ]

    # -- reads ------------------------------------------------------------------------------------------
    def get(self, image_id: str) -> ImageRecord | None:
        found = self._db.get_item(TableName=self._table, Key=image_key(image_id), ConsistentRead=True)
        return decode_record(found["Item"]) if "Item" in found else None

    def hash_owner(self, sha256: str) -> str | None:
        found = self._db.get_item(TableName=self._table, Key=bytes_key(sha256), ConsistentRead=True)
        return found["Item"]["image_id"]["S"] if "image_id" in found.get("Item", {}) else None

    def ids_with_hash(self, sha256: str) -> list[str]:
        """Ids of every image recorded with these bytes: the owner first, then the others (duplicates, rejections,
        failures). One GetItem: the bytes item names them all (no index by hash)."""
        found = self._db.get_item(TableName=self._table, Key=bytes_key(sha256), ConsistentRead=True).get("Item", {})
        owner = [found["image_id"]["S"]] if "image_id" in found else []
        return owner + sorted(set(found.get("others", {}).get("SS", [])) - set(owner))

    def records_with_hash(self, sha256: str) -> list[ImageRecord]:
        """The records of these bytes (see :meth:`ids_with_hash`), owner first."""
        return [r for r in (self.get(i) for i in self.ids_with_hash(sha256)) if r is not None]

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
                yield decode_record(item)
            if "LastEvaluatedKey" not in resp:
                return
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def list_albums(self) -> list[AlbumSummary]:
        """Every album that ever had a photo, each with its count (counted from its members)."""
        albums: list[AlbumSummary] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk",
            "ExpressionAttributeValues": _item({":pk": "ALBUMS"}),
        }
        while True:
            resp = self._db.query(**kwargs)
            albums.extend(self._summary(i) for i in resp.get("Items", []))
            if "LastEvaluatedKey" not in resp:
                return albums
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def _summary(self, item: dict[str, Any]) -> AlbumSummary:
        fields = _from_ddb(item)
        return AlbumSummary(album=fields["album"], kind=fields["kind"], image_count=self.count_members(fields["album"]))

    def count_members(self, album: str) -> int:
        """The album's member items, counted (Query Select=COUNT, every page): counts always equal members."""
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk",
            "ExpressionAttributeValues": _item({":pk": f"ALBUM#{album}"}),
            "Select": "COUNT",
        }
        total = 0
        while True:
            resp = self._db.query(**kwargs)
            total += int(resp.get("Count", 0))
            if "LastEvaluatedKey" not in resp:
                return total
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
            kwargs["ExclusiveStartKey"] = _decode_token(next_token, lambda pk, _sk: pk == f"ALBUM#{album}")
        resp = self._db.query(**kwargs)
        items = [AlbumEntry.model_validate(_from_ddb(i)) for i in resp.get("Items", [])]
        last = resp.get("LastEvaluatedKey")
        return Page(items=items, next_token=_encode_token(last) if last else None)

    # -- reads for the albums API ------------------------------------------------------------------------
    def get_album(self, album: str) -> AlbumSummary | None:
        """One album's (or inventory category's) summary with its count, or None if it never had a photo."""
        found = self._db.get_item(TableName=self._table, Key=_item({"PK": "ALBUMS", "SK": f"ALBUM#{album}"}))
        return self._summary(found["Item"]) if "Item" in found else None

    def search_label(
        self, label: str, *, limit: int = 50, next_token: str | None = None, max_read: int = 1000
    ) -> ImagePage:
        """Images with a label named ``label`` (case-insensitive), best confidence first within a page.

        A paginated Scan over image records, reading at most ``max_read`` items per call: there is no label
        index (one item per label per photo would multiply the write cost of every photo). The token resumes
        where the scan stopped, so every image is visited once across pages.
        """
        wanted = label.casefold()
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": "#t = :t",
            "ExpressionAttributeNames": {"#t": "type"},
            "ExpressionAttributeValues": _item({":t": "image"}),
            "Limit": min(max_read, 250),
        }
        if next_token:
            kwargs["ExclusiveStartKey"] = _decode_token(next_token, lambda pk, _sk: pk.startswith("IMAGE#"))
        found: list[tuple[float, ImageRecord]] = []
        read = 0
        while True:
            resp = self._db.scan(**kwargs)
            read += resp.get("ScannedCount", 0)
            for item in resp.get("Items", []):
                record = decode_record(item)
                best = max((x.confidence for x in record.labels if x.name.casefold() == wanted), default=None)
                if best is not None:
                    found.append((best, record))
            last = resp.get("LastEvaluatedKey")
            if last is None or len(found) >= limit or read >= max_read:
                break
            kwargs["ExclusiveStartKey"] = last
        found.sort(key=lambda pair: (-pair[0], pair[1].image_id))
        return ImagePage(items=[record for _, record in found], next_token=_encode_token(last) if last else None)

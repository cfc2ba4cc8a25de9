"""S3 Inventory: reading a manifest as Step Functions' ItemReader does, and writing one as S3 Inventory does.

:func:`inventory_items` is what the backfill machine's manifest Map reads (the pinned adapter in
:mod:`photosort_local.moto_distributed_map` uses it offline) and what ``photosort backfill --manifest --dry-run``
counts. :func:`write_inventory` writes a real-format CSV inventory of a bucket (``manifest.json`` and gzip CSV files
under ``<prefix><source bucket>/<config id>/``, keys URL-encoded) for the offline stack, which has no S3 Inventory:
``photosort local inventory`` and the tests use it.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

SCHEMA = ("Bucket", "Key", "Size", "LastModifiedDate", "ETag", "StorageClass")
VERSIONED_SCHEMA = ("Bucket", "Key", "VersionId", "IsLatest", "IsDeleteMarker", "Size", "LastModifiedDate", "ETag")
"""An inventory of a versioned bucket with "Include all versions" (S3 puts the version columns after Key)."""


class InventoryManifestError(ValueError):
    """The object is not an S3 Inventory manifest Step Functions can read (the Map fails States.ItemReaderFailed)."""


def inventory_items(s3: Any, manifest_text: str, max_items: int | None = None) -> list[dict[str, str]]:
    """The items an ItemReader with ``InputType`` MANIFEST makes of an S3 Inventory ``manifest.json``: one per CSV
    row of every file the manifest names, keyed by its ``fileSchema`` columns (every value a string)."""
    try:
        manifest = json.loads(manifest_text)
    except ValueError as exc:
        raise InventoryManifestError(f"the manifest is not JSON: {exc}") from exc
    if not isinstance(manifest, dict) or not {"fileFormat", "fileSchema", "files", "destinationBucket"} <= set(
        manifest
    ):
        raise InventoryManifestError(
            "not an S3 Inventory manifest (needs fileFormat, fileSchema, files, destinationBucket)"
        )
    if manifest["fileFormat"] != "CSV":
        raise InventoryManifestError(f"only CSV inventories can be read, not {manifest['fileFormat']}")
    columns = [column.strip() for column in str(manifest["fileSchema"]).split(",")]
    if "Key" not in columns:
        raise InventoryManifestError(f"the inventory's fileSchema has no Key column: {manifest['fileSchema']}")
    bucket = str(manifest["destinationBucket"]).rsplit(":", 1)[-1]  # arn:aws:s3:::name
    items: list[dict[str, str]] = []
    for entry in manifest["files"]:
        try:
            body = s3.get_object(Bucket=bucket, Key=entry["key"])["Body"].read()
        except Exception as exc:  # a missing or unreadable file fails the whole reader, named
            raise InventoryManifestError(f"cannot read inventory file s3://{bucket}/{entry['key']}: {exc}") from exc
        try:
            text = gzip.decompress(body).decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InventoryManifestError(f"inventory file {entry['key']} is not gzip CSV: {exc}") from exc
        for row in csv.reader(io.StringIO(text)):
            if not row:
                continue
            items.append(dict(zip(columns, row, strict=False)))
            if max_items is not None and len(items) >= max_items:
                return items
    return items


def read_manifest(s3: Any, uri: str, max_items: int | None = None) -> list[dict[str, str]]:
    """The items of the manifest at ``s3://bucket/key`` (its bucket read with ``s3``)."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    try:
        text = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
    except Exception as exc:
        raise InventoryManifestError(f"cannot read the manifest {uri}: {exc}") from exc
    return inventory_items(s3, text, max_items)


def encode_key(key: str) -> str:
    """A key as S3 Inventory's CSV writes it: URL-encoded, a space as ``+`` (so a plus is ``%2B``)."""
    return quote_plus(key, safe="/")


def write_inventory(
    s3: Any,
    source_bucket: str,
    destination_bucket: str,
    *,
    prefix: str = "",
    config_id: str = "photosort",
    rows_per_file: int = 1000,
    extra_rows: Iterable[dict[str, str]] = (),
    versions: bool = False,
    now: datetime | None = None,
) -> str:
    """Write an S3 Inventory (CSV, the :data:`SCHEMA` columns, or :data:`VERSIONED_SCHEMA` with ``versions``) of
    every object in ``source_bucket`` to ``destination_bucket``; returns the manifest's ``s3://`` URI.
    ``extra_rows`` are appended as they are (rows for objects that do not exist, other buckets, older versions,
    delete markers), with their Key already encoded."""
    schema = VERSIONED_SCHEMA if versions else SCHEMA
    moment = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H-%MZ")
    base = f"{prefix}{source_bucket}/{config_id}"
    rows: list[list[str]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=source_bucket):
        for obj in page.get("Contents", []):
            modified = obj["LastModified"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
            etag = str(obj.get("ETag", "")).strip('"')
            row = {
                "Bucket": source_bucket,
                "Key": encode_key(obj["Key"]),
                "VersionId": "",
                "IsLatest": "true",
                "IsDeleteMarker": "false",
                "Size": str(obj["Size"]),
                "LastModifiedDate": modified,
                "ETag": etag,
                "StorageClass": obj.get("StorageClass", "STANDARD"),
            }
            rows.append([row[column] for column in schema])
    rows += [[row.get(column, "") for column in schema] for row in extra_rows]
    files = []
    for n, start in enumerate(range(0, max(len(rows), 1), rows_per_file)):
        out = io.StringIO()
        csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(rows[start : start + rows_per_file])
        body = gzip.compress(out.getvalue().encode("utf-8"))
        key = f"{base}/data/{hashlib.sha256(f'{moment}{n}'.encode()).hexdigest()[:36]}.csv.gz"
        s3.put_object(Bucket=destination_bucket, Key=key, Body=body)
        files.append({"key": key, "size": len(body), "MD5checksum": hashlib.md5(body).hexdigest()})  # noqa: S324
    manifest = {
        "sourceBucket": source_bucket,
        "destinationBucket": f"arn:aws:s3:::{destination_bucket}",
        "version": "2016-11-30",
        "creationTimestamp": str(int((now or datetime.now(UTC)).timestamp() * 1000)),
        "fileFormat": "CSV",
        "fileSchema": ", ".join(schema),
        "files": files,
    }
    manifest_key = f"{base}/{moment}/manifest.json"
    s3.put_object(Bucket=destination_bucket, Key=manifest_key, Body=json.dumps(manifest, indent=2).encode())
    return f"s3://{destination_bucket}/{manifest_key}"

"""The incoming/ sweeper: nothing stays under ``incoming/`` unnoticed, even when an execution died where no Catch
could see it (the Express time limit, a data limit, a StartExecution throttled after EventBridge gave up).

Run on a schedule. For each object under ``incoming/`` older than ``older_than`` (longer than any execution can
live: the workflow's worst case is under 5 minutes, tests/static/test_time_budget.py), oldest first:

1. **claim** it in the table (a conditional update on ``SWEEP#<bucket>/<key>#<etag>``): an overlapping run, or a
   run within ``older_than`` of the last one, leaves it alone. The claim counts the sweeper's attempts.
2. If a record already exists for these bytes at this key (the execution died after Record), **complete** it:
   move the object to the recorded destination with the same copy-verify-delete as Sort.
3. Otherwise **re-drive** it: start the state machine with the event S3 would have sent.
4. After ``max_redrives`` re-drives it is **quarantined**: recorded as failed and moved under failed/, like the
   workflow's own Catch does.

Each run is bounded (``max_objects`` handled, ``max_scanned`` keys listed), and its summary is written to the
table (``PK=SWEEP``, ``SK=RUN#<time>``, kept 30 days) and returned, for the logs and the ``StuckObjects`` metric.
Nothing here relies on DescribeExecution, which AWS does not offer for Express executions.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from photosort import constants, pipeline, storage
from photosort.models import Decision, FailureInfo, Inspection, ObjectRef, Status
from photosort.repository import Repository

RUN_RETENTION = timedelta(days=30)
CLAIM_RETENTION = timedelta(days=7)


@dataclass
class SweepReport:
    started_at: str
    older_than_s: float
    scanned: int = 0
    stuck: int = 0
    redriven: list[str] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # claimed by another run within older_than
    errors: dict[str, str] = field(default_factory=dict)
    truncated: bool = False  # more stuck objects (or keys) than one run may handle

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _s(value: Any) -> dict[str, str]:
    return {"S": str(value)}


class SweepLedger:
    """The sweeper's own items in photosort's table: one claim per stuck object version, one summary per run."""

    def __init__(self, client: Any, table: str) -> None:
        self._db = client
        self._table = table

    def claim(self, bucket: str, key: str, etag: str, now: datetime, cooldown: timedelta) -> int | None:
        """Claim an object for this run; the number of claims so far, or None if claimed within ``cooldown``."""
        ident = f"SWEEP#{bucket}/{key}#{etag}"
        try:
            resp = self._db.update_item(
                TableName=self._table,
                Key={"PK": _s(ident), "SK": _s("SWEEP")},
                UpdateExpression="ADD attempts :one SET last_at = :now, expires_at = :exp, #t = :t",
                ConditionExpression="attribute_not_exists(last_at) OR last_at < :cutoff",
                ExpressionAttributeNames={"#t": "type"},
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":now": _s(now.isoformat()),
                    ":cutoff": _s((now - cooldown).isoformat()),
                    ":exp": {"N": str(int((now + CLAIM_RETENTION).timestamp()))},
                    ":t": _s("sweep-claim"),
                },
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return None
            raise
        return int(resp["Attributes"]["attempts"]["N"])

    def record_run(self, report: SweepReport, now: datetime) -> None:
        item = {
            "PK": _s("SWEEP"),
            "SK": _s(f"RUN#{report.started_at}#{uuid.uuid4().hex[:8]}"),
            "type": _s("sweep-run"),
            "summary": _s(json.dumps(report.as_dict())[:350_000]),
            "stuck": {"N": str(report.stuck)},
            "expires_at": {"N": str(int((now + RUN_RETENTION).timestamp()))},
        }
        self._db.put_item(TableName=self._table, Item=item)


def s3_event(ref: ObjectRef, account: str, region: str, now: datetime) -> dict[str, Any]:
    """The EventBridge "Object Created" event S3 would have sent for this object (no sequencer: S3 never told us)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": account,
        "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:s3:::{ref.bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": ref.bucket},
            "object": {"key": storage.encode_event_key(ref.key), "size": ref.size, "etag": ref.etag or ""},
            "request-id": uuid.uuid4().hex[:16].upper(),
            "requester": "photosort-sweeper",
            "reason": "PhotosortSweeper",
        },
    }


def _stuck(s3: Any, bucket: str, cutoff: datetime, max_scanned: int, report: SweepReport) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=constants.INCOMING_PREFIX)
    for page in pages:
        for obj in page.get("Contents", []):
            report.scanned += 1
            if obj["LastModified"] <= cutoff:
                found.append(obj)
            if report.scanned >= max_scanned:
                report.truncated = bool(page.get("IsTruncated")) or report.scanned > len(found)
                return sorted(found, key=lambda o: o["LastModified"])
    return sorted(found, key=lambda o: o["LastModified"])


def _existing_record(repo: Repository, ref: ObjectRef, sha: str) -> Any:
    """The record of these bytes at this key, if Record wrote one (the bytes item names every record of a hash)."""
    for rec in repo.records_with_hash(sha):
        if rec.bucket == ref.bucket and rec.source_key == ref.key:
            return rec
    return None


def sweep(
    s3: Any,
    sfn: Any,
    repo: Repository,
    ledger: SweepLedger,
    *,
    bucket: str,
    state_machine_arn: str,
    older_than: timedelta,
    max_objects: int = 100,
    max_redrives: int = 2,
    max_scanned: int = 10_000,
    now: datetime | None = None,
) -> SweepReport:
    """One bounded pass over incoming/ (see the module docstring)."""
    now = now or datetime.now(UTC)
    report = SweepReport(started_at=now.isoformat(timespec="milliseconds"), older_than_s=older_than.total_seconds())
    stuck = _stuck(s3, bucket, now - older_than, max_scanned, report)
    report.stuck = len(stuck)
    if len(stuck) > max_objects:
        report.truncated = True
    arn = state_machine_arn.split(":")
    for obj in stuck[:max_objects]:
        key = obj["Key"]
        ref = ObjectRef(bucket=bucket, key=key, size=int(obj["Size"]), etag=obj.get("ETag", "").strip('"') or None)
        try:
            attempt = ledger.claim(bucket, key, ref.etag or "", now, older_than)
            if attempt is None:
                report.skipped.append(key)
                continue
            _handle(s3, sfn, repo, ref, attempt, max_redrives, state_machine_arn, arn[4], arn[3], now, report)
        except Exception as exc:  # noqa: BLE001 - one object's trouble must not stop the sweep of the others
            report.errors[key] = f"{type(exc).__name__}: {exc}"[:500]
    ledger.record_run(report, now)
    return report


def _handle(
    s3: Any,
    sfn: Any,
    repo: Repository,
    ref: ObjectRef,
    attempt: int,
    max_redrives: int,
    state_machine_arn: str,
    account: str,
    region: str,
    now: datetime,
    report: SweepReport,
) -> None:
    sha = storage.stream_sha256(s3, ref)
    record = _existing_record(repo, ref, sha)
    if record is not None:
        repo.repair(record)  # its album members, in case the execution died right after the record
        # The execution died after Record: finish the move it decided, exactly as Sort (or Quarantine) would.
        inspection = Inspection(object=ref, received_at=now, usable=record.status is not Status.REJECTED, sha256=sha)
        pipeline.sort(s3, inspection, Decision.from_record(record, created=False))
        report.completed.append(ref.key)
        return
    if attempt > max_redrives:
        cause = f"still under {constants.INCOMING_PREFIX} after {max_redrives} re-drives by the sweeper"
        pipeline.quarantine(s3, repo, ref, FailureInfo.model_validate({"Error": "StuckInIncoming", "Cause": cause}))
        report.quarantined.append(ref.key)
        return
    name = f"sweep-{hashlib.sha256(f'{ref.bucket}/{ref.key}#{ref.etag}'.encode()).hexdigest()[:40]}-{attempt}"
    sfn.start_execution(
        stateMachineArn=state_machine_arn, name=name, input=json.dumps(s3_event(ref, account, region, now))
    )
    report.redriven.append(ref.key)

"""What a backfill run costs and how long it takes: the resource model of photosort.backfill, at list prices.

Per run (statemachine/backfill.asl.json): one ListObjectsV2 per 1,000 listed keys (the ItemReader); Standard state
transitions (Lock, Each, Release, Done and the Map Run's own, then two per child: the child's start and its one
Task); one Lambda invocation per batch of :data:`BATCH` keys, at BackfillFunction's memory, for as long as its
items take. Per item, by mode:

* ``ingest``: the per-upload steps' work (Inspect, Classify, Record, Sort; their durations and the backend's
  price from :func:`photosort_local.cost.model.estimate`), without the upload, EventBridge or the Express workflow.
* ``reroute``: for every listed photo a HEAD (the SHA-256 the move stamped), the bytes item and the record
  (GetItem x2, no index); for a photo that moves, the conditional transaction (record and album members) and
  the move (HEAD of the source, the conditional COPY, DELETE).
* ``reclassify``: as reroute, plus the backend's call and a GET of the photo for every photo classified again.

The items come from a listing (one ListObjectsV2 per 1,000 keys) or, with ``--manifest``, from an S3 Inventory
(billed per object it lists, once per report, plus a GET of the manifest and of each gzip CSV file, taken as
:data:`INVENTORY_ROWS_PER_FILE` rows each); the per-item work is the same.

The duration at MaxConcurrency C: listed keys x seconds per key / C (a child works through its batch serially).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from photosort_local.cost import model
from photosort_local.cost.prices import load_prices, price

BATCH = 10  # the ASL's ItemBatcher MaxItemsPerBatch
BACKFILL_MEMORY_MB = 1024  # BackfillFunction's MemorySize
PARENT_TRANSITIONS = 8
CHILD_TRANSITIONS = 2
LOOKUP_CALLS = 3  # HEAD + GetItem (bytes item) + GetItem (record)
MOVE_CALLS = 4  # transaction, HEAD (the source's headers), COPY, DELETE
ITEM_CPU_MS = 5.0  # deciding a reroute (routing.match + render_key) and the JSON of a batch item
SERVICES = frozenset({"Rekognition", "Bedrock", "SageMaker"})  # the classifier's own line items
MODES = ("ingest", "reroute", "reclassify")
SOURCES = ("listing", "manifest")
INVENTORY_ROWS_PER_FILE = 1_000_000  # a CSV inventory file's rows (S3 splits a large inventory into several files)


@dataclass
class BackfillEstimate:
    mode: str
    backend: str
    listed: int
    touched: int
    max_concurrency: int
    seconds_per_item: float
    items: list[model.Item] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(i.cost for i in self.items)

    @property
    def duration_s(self) -> float:
        return self.listed * self.seconds_per_item / max(self.max_concurrency, 1)

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "backend": self.backend,
            "listed": self.listed,
            "touched": self.touched,
            "max_concurrency": self.max_concurrency,
            "seconds_per_item": self.seconds_per_item,
            "duration_s": self.duration_s,
            "total": self.total,
            "items": [asdict(i) for i in self.items],
        }


def _classify_ms(durations: dict[str, float]) -> float:
    return durations["classify"]


def estimate(
    mode: str,
    listed: int,
    touched: int | None = None,
    *,
    backend: str = "local",
    max_concurrency: int = 10,
    prices: dict[str, Any] | None = None,
    source: str = "listing",
) -> BackfillEstimate:
    """The cost of one run over ``listed`` keys (or inventory rows) of which ``touched`` are sorted, moved or
    classified."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")
    if source not in SOURCES:
        raise ValueError(f"unknown item source {source!r}; expected one of {SOURCES}")
    p = prices or load_prices()
    n = float(listed)
    k = float(listed if touched is None else touched)
    per_photo = model.estimate(max(k, 1.0), backend, prices=p)
    durations = per_photo.durations_ms
    lookup_ms = model.lambda_duration_ms(ITEM_CPU_MS, BACKFILL_MEMORY_MB, LOOKUP_CALLS)
    move_ms = model.lambda_duration_ms(ITEM_CPU_MS, BACKFILL_MEMORY_MB, MOVE_CALLS)
    if mode == "ingest":
        busy_ms = k * sum(durations[f] for f in model.FUNCTIONS) + (n - k) * 1.0  # Classify includes Inspect
    elif mode == "reroute":
        busy_ms = n * lookup_ms + k * move_ms
    else:
        busy_ms = n * lookup_ms + k * (_classify_ms(durations) + move_ms)
    seconds_per_item = busy_ms / 1000.0 / max(n, 1.0)
    est = BackfillEstimate(
        mode=mode,
        backend=backend,
        listed=listed,
        touched=int(k),
        max_concurrency=max_concurrency,
        seconds_per_item=seconds_per_item,
    )

    def add(service: str, item: str, quantity: float, unit: str, unit_price: float) -> None:
        est.items.append(model.Item(service, item, quantity, unit, unit_price, quantity * unit_price))

    batches = math.ceil(n / BATCH)
    if source == "listing":
        add(
            "S3",
            "ListObjectsV2 (the ItemReader, 1 per 1,000 keys)",
            math.ceil(n / 1000) / 1000.0,
            "1k requests",
            price(p, "s3", "put_copy_post_list"),
        )
    else:
        add(
            "S3",
            "Inventory (the objects its report lists)",
            n / 1e6,
            "1M objects",
            price(p, "s3", "inventory_objects_listed"),
        )
        add(
            "S3",
            "GET (the ItemReader: manifest.json and its gzip CSV files)",
            (1 + math.ceil(n / INVENTORY_ROWS_PER_FILE)) / 1000.0,
            "1k requests",
            price(p, "s3", "get_head_select"),
        )
    add(
        "Step Functions",
        f"Standard transitions ({PARENT_TRANSITIONS} + {CHILD_TRANSITIONS}/batch of {BATCH})",
        (PARENT_TRANSITIONS + CHILD_TRANSITIONS * batches) / 1000.0,
        "1k transitions",
        price(p, "stepfunctions", "standard_state_transitions"),
    )
    add("Lambda", f"requests (1/batch of {BATCH})", batches / 1e6, "1M requests", price(p, "lambda", "requests"))
    add(
        "Lambda",
        f"duration, arm64 ({BACKFILL_MEMORY_MB} MB, {seconds_per_item * 1000:.0f} ms/key)",
        BACKFILL_MEMORY_MB / 1024.0 * busy_ms / 1000.0,
        "GB-s",
        price(p, "lambda", "arm64_gb_second"),
    )
    if mode == "ingest":
        req = model.sorted_photo_requests()
        add(
            "S3",
            "GET/HEAD (inspect GET, classify GET, sort HEAD of the source)",
            k * 3 / 1000.0,
            "1k requests",
            price(p, "s3", "get_head_select"),
        )
        add("S3", "COPY (sort)", k / 1000.0, "1k requests", price(p, "s3", "put_copy_post_list"))
        add(
            "DynamoDB",
            f"write request units ({req.wru:g}/photo, as an upload)",
            k * req.wru / 1e6,
            "1M WRU",
            price(p, "dynamodb", "write_request_units"),
        )
    else:
        add(
            "DynamoDB",
            "read request units (GetItem 1 + 1 per listed photo: the bytes item, the record)",
            n * 2.0 / 1e6,
            "1M RRU",
            price(p, "dynamodb", "read_request_units"),
        )
        wru = 2 * (model.IMAGE_ITEM_KB + model.MEMBERSHIPS * 2 * model.SMALL_ITEM_KB)  # transactional: x2
        add(
            "DynamoDB",
            f"write request units ({wru}/changed photo: transaction, the record, left and joined albums)",
            k * wru / 1e6,
            "1M WRU",
            price(p, "dynamodb", "write_request_units"),
        )
        add(
            "S3",
            "GET/HEAD (a HEAD per listed photo; a moved one: HEAD of the source; reclassify: +1 GET)",
            (n + k * (2 if mode == "reclassify" else 1)) / 1000.0,
            "1k requests",
            price(p, "s3", "get_head_select"),
        )
        add("S3", "COPY (move)", k / 1000.0, "1k requests", price(p, "s3", "put_copy_post_list"))
    if mode in ("ingest", "reclassify") and k:
        hours = est.duration_s / 3600.0
        for line in per_photo.items:
            if line.service not in SERVICES:
                continue
            if line.fixed:  # an endpoint or inference unit running all month: only the run's hours count here
                share = min(hours / p["hours_per_month"], 1.0)
                add(
                    line.service,
                    f"{line.item} (for the run's {hours:.1f} h)",
                    line.quantity * share,
                    line.unit,
                    line.unit_price,
                )
            else:
                est.items.append(line)
    return est


DEFAULT_CONCURRENCY = {"local": 100, "rekognition": 12, "custom-labels": 1, "sagemaker": 4, "bedrock": 16}
"""The template's Mappings BackfillConcurrency (tests/cost/test_backfill_cost.py checks they agree)."""
REROUTE_CONCURRENCY = 100  # PHOTOSORT_BACKFILL_REROUTE_CONCURRENCY's default: a reroute never calls the backend


def table(photos: int = 1_000_000) -> list[dict[str, Any]]:
    """Cost and run time of each mode per backend for ``photos`` photos, every one touched (README figures)."""
    rows = []
    for backend, concurrency in DEFAULT_CONCURRENCY.items():
        for mode in MODES:
            concurrency_here = REROUTE_CONCURRENCY if mode == "reroute" else concurrency
            est = estimate(mode, photos, backend=backend, max_concurrency=concurrency_here)
            rows.append(
                {
                    "backend": backend,
                    "mode": mode,
                    "max_concurrency": concurrency_here,
                    "cost": round(est.total, 2),
                    "hours": round(est.duration_s / 3600, 1),
                }
            )
    return rows


if __name__ == "__main__":  # python -m photosort_local.cost.backfill
    print(f"{'BACKEND':<14}{'MODE':<12}{'CONCURRENCY':>12}{'$ / 1M':>10}{'HOURS':>8}")
    for row in table():
        print(
            f"{row['backend']:<14}{row['mode']:<12}{row['max_concurrency']:>12}{row['cost']:>10,.2f}{row['hours']:>8}"
        )

"""What photosort costs per month on AWS: an itemised per-photo resource model times dated list prices.

Prices come from ``prices.json`` (us-east-1, dated, with sources; some marked unverified). The resource model
counts what the code does for one sorted photo (the common path: inspect, classify, record, sort), and
tests/cost/test_request_counts.py runs real photos through the embedded stack, counts every S3 and DynamoDB
request and the size of every item written, and checks they equal :func:`sorted_photo_requests`:

* Lambda: 4 invocations (thumbnails are made on first view by the albums API, not per photo); memory from
  template.yaml (Globals + per-function MemorySize); duration from ``bench/results/latest.json`` when it exists
  (warm handler time without moto's in-process share of each AWS call, which on AWS is the service's work:
  ``bench/pipeline.py`` times it; scaled by the CPU share Lambda gives at that memory, plus a network allowance
  per AWS call), else the documented defaults below.
* S3 (storage.py / pipeline.py): the upload PUT; Inspect: one GET (no HEAD: the GET names size, ETag and
  headers); Classify: GET (local, SageMaker and Bedrock with image source bytes read the bytes; Rekognition reads
  the S3 object itself); Sort (storage.move): one COPY conditional on the source's ETag and on an empty
  destination (verified by the SHA-256 S3 returns for the copy), DELETE (free). No HEAD on the normal path.
* DynamoDB (repository.py, no transaction, no GSI): Record does one strongly consistent GetItem (1 RRU), the
  claim on the bytes (UpdateItem, 1 WRU), the record (PutItem, under 1 KB: 1 WRU) and one member item per album
  (PutItem, 1 WRU each); an album's item is read once per warm container (not per photo) and written once ever.
  The near-duplicate search (photosort.neardup, ``NearDuplicates`` != off) is its own line: TOP_K Queries
  (eventually consistent) per photo and one index item per first photo.
* Step Functions Express: 1 request; duration = the steps' durations plus transition overhead, rounded up to
  100 ms, at 64 MB. Standard: 6 state transitions on the sorted path.
* EventBridge: S3 events to the default bus are free. CloudWatch Logs: Record's EMF metric line per photo
  (measured, tests/cost/test_log_volume.py) plus the sampled invocations (POWERTOOLS_LOGGER_SAMPLE_RATE from
  template.yaml) fully logged. X-Ray: traces from the template's sampling rule (reservoir per second, then rate).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from photosort_local import checkout
from photosort_local.cost.prices import load_prices, price

REPO = checkout.REPO_ROOT
TEMPLATE = checkout.TEMPLATE
BENCH_RESULTS = REPO / "bench" / "results" / "latest.json"

BACKENDS = ("local", "rekognition", "custom-labels", "sagemaker", "bedrock")
FUNCTIONS = ("classify", "record", "sort")  # Classify inspects too; quarantine only runs on failures
SECONDS_PER_MONTH = 730 * 3600

# Defaults when there are no bench results: warm handler CPU time in ms at 1 full vCPU (measured on the
# embedded stack, serial run, rounded) and AWS API calls per invocation (each adds API_LATENCY_MS of waiting).
DEFAULT_CPU_MS = {"classify": 60.0, "record": 60.0, "sort": 60.0}
# Inspect's own work inside Classify (read, SHA-256, header, decode check), at 1 full vCPU: the larger of its two
# measurements as a function of its own (bench pipeline, serial, without moto's share: 10.06 ms on 2026-11-29,
# 2.85 ms on 2026-12-02), added to the local classify time (the inference and preprocess benches).
INSPECT_CPU_MS = 10.06
API_LATENCY_MS = 15.0  # one S3 / DynamoDB request from Lambda in-region (assumption)
REMOTE_CLASSIFY_MS = {
    "rekognition": 400.0,
    "custom-labels": 300.0,
    "sagemaker": 120.0,
    "bedrock": 1500.0,
}  # (assumption)
REMOTE_CLASSIFY_CPU_MS = 10.0  # building the request and parsing labels
DEFAULT_INFERENCE_1T_MS = 13.0  # fp32, one thread (bench inference), used by the memory table
DEFAULT_PREPROCESS_MS = 45.0  # 12 MP JPEG decode (draft) + preprocess (bench preprocess)
CLASSIFY_IO_MS = 30.0  # S3 GET of a multi-MB photo (assumption)
ACCEPTABLE_CLASSIFY_MS = 1000.0
TRANSITION_OVERHEAD_MS = 50.0  # per Task state in Express, on top of the Lambda durations (assumption)
# Logs (template: POWERTOOLS_LOG_LEVEL WARNING, SystemLogLevel WARN): a photo's only regular lines are the EMF
# metric lines (Record's Images_<status>; Quarantine's ImagesFailed on failures), measured on the embedded stack
# by tests/cost/test_log_volume.py; a sampled invocation (POWERTOOLS_LOGGER_SAMPLE_RATE) logs everything.
EMF_BYTES_PER_PHOTO = 256  # measured ~225 bytes (one EMF line), rounded up
LOG_KB_SAMPLED_INVOCATION = 2.0  # a fully logged invocation (INFO/DEBUG lines and the platform REPORT)
METRIC_FUNCTIONS = ("record",)  # the only step that emits metrics on the sorted path
IMAGE_ITEM_KB = 1  # the image record: scalars plus the compressed labels/metadata (measured under 1 KB)
SMALL_ITEM_KB = 1  # the claim on the bytes, an album member
# Albums per sorted photo: the family rules put a photo in one album (the 8 sample photos: 9 memberships, one
# photo in none); each further album adds one member item (1 WRU). sorted_photo_requests() takes the number.
MEMBERSHIPS = 1
STANDARD_TRANSITIONS = 5  # Classify, IsStillThere, Record, Sort, Sorted
# The near-duplicate search (photosort.neardup): an index item holds the int8 embedding (~1.9 KB: 2 WRU); a
# lookup Queries TOP_K partitions, each up to MAX_CANDIDATES items, eventually consistent (0.5 RRU per 4 KB).
NEAR_INDEX_ITEM_KB = 2
NEAR_QUERY_KB = 50 * 1.9  # a full partition (MAX_CANDIDATES items of ~1.9 KB); fewer while the library is small
FIRST_PHOTO_SHARE = 1.0  # share of photos that are no near-duplicate of an earlier one (so get indexed)
CUSTOM_LABELS_INFERENCE_UNITS = 1
SAGEMAKER_INSTANCE = "ml.c5.large"
SAGEMAKER_INSTANCES = 1


# ------------------------------------------------------------------------------------------------ inputs


def neardup_top_k() -> int:
    from photosort import neardup  # the layer's own constant: the model follows the code

    return neardup.TOP_K


def sampling(path: Path = TEMPLATE) -> tuple[float, float, float]:
    """(reservoir per second, fixed rate, logger sample rate) from the template's X-Ray rule and Globals."""
    from photosort_local.sam import load_sam_template  # aws-sam-translator: the local extra

    template = load_sam_template(path)
    reservoir, rate = 1.0, 0.05  # X-Ray's default rule
    for res in template["Resources"].values():
        if res.get("Type") == "AWS::XRay::SamplingRule":
            rule = res["Properties"]["SamplingRule"]
            reservoir, rate = float(rule["ReservoirSize"]), float(rule["FixedRate"])
    env = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    return reservoir, rate, float(env.get("POWERTOOLS_LOGGER_SAMPLE_RATE", 1.0))


def gsi_item_kb(path: Path = TEMPLATE) -> dict[str, int]:
    """Write units per image item per GSI: the item's size (ALL) or 1 KB for a small INCLUDE/KEYS_ONLY entry."""
    from photosort_local.sam import load_sam_template  # aws-sam-translator: the local extra

    template = load_sam_template(path)
    out = {}
    for res in template["Resources"].values():
        if res.get("Type") == "AWS::DynamoDB::Table":
            for gsi in res["Properties"].get("GlobalSecondaryIndexes", []):
                kind = gsi["Projection"]["ProjectionType"]
                out[gsi["IndexName"]] = IMAGE_ITEM_KB if kind == "ALL" else SMALL_ITEM_KB
    return out


def near_duplicates_default(path: Path = TEMPLATE) -> str:
    """The template's ``NearDuplicates`` default (``off``, ``record`` or ``set-aside``)."""
    from photosort_local.sam import load_sam_template  # aws-sam-translator: the local extra

    return str(load_sam_template(path)["Parameters"]["NearDuplicates"]["Default"])


@dataclass(frozen=True)
class Requests:
    """The AWS requests the pipeline makes for one photo (the user's upload PUT not included), and what the
    DynamoDB writes cost: ``wru`` write units, ``rru`` read units."""

    s3: dict[str, int]
    dynamodb: dict[str, int]
    wru: float
    rru: float


def sorted_photo_requests(memberships: int = MEMBERSHIPS, gsis: int = 0) -> Requests:
    """One sorted photo on the normal path (storage.py, pipeline.py, repository.py), in a warm container.

    S3: Classify's one GET (it inspects and labels from the same bytes), Sort's conditional COPY and its DELETE.
    DynamoDB: Record's claim UpdateItem, the record PutItem (conditional: a replay finds its record there, so no
    read first) and a PutItem per album; every item under 1 KB (1 WRU), plus one write unit per GSI entry of the
    record. No read.
    """
    return Requests(
        s3={"GetObject": 1, "CopyObject": 1, "DeleteObject": 1},
        dynamodb={"UpdateItem": 1, "PutItem": 1 + memberships},
        wru=SMALL_ITEM_KB + IMAGE_ITEM_KB + memberships * SMALL_ITEM_KB + gsis * SMALL_ITEM_KB,
        rru=0.0,
    )


API_CALLS = {"classify": 1, "record": 2 + MEMBERSHIPS, "sort": 2}  # AWS requests per invocation


def function_memory(path: Path = TEMPLATE) -> dict[str, int]:
    """MemorySize per function (short name: inspect, classify, ...): the function's own, else Globals, else 128."""
    return dict(_function_memory(path, checkout.require(path).stat().st_mtime_ns))


@functools.lru_cache(maxsize=8)
def _function_memory(path: Path, _mtime: int) -> tuple[tuple[str, int], ...]:
    from photosort_local.sam import load_sam_template  # aws-sam-translator: the local extra

    template = load_sam_template(path)
    default = int(template.get("Globals", {}).get("Function", {}).get("MemorySize", 128))
    out = {}
    for logical_id, res in template["Resources"].items():
        if res.get("Type") == "AWS::Serverless::Function":
            short = logical_id.removesuffix("Function").lower()
            out[short] = int(res.get("Properties", {}).get("MemorySize", default))
    return tuple(out.items())


@dataclass
class Measured:
    """Figures taken from bench results (or the defaults)."""

    cpu_ms: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_CPU_MS))
    inference_1t_ms: float = DEFAULT_INFERENCE_1T_MS
    inference_2t_ms: float = DEFAULT_INFERENCE_1T_MS / 1.4
    preprocess_ms: float = DEFAULT_PREPROCESS_MS
    peak_rss_mb: float | None = None
    source: str = "defaults (no bench/results/latest.json)"


def load_measured(path: Path = BENCH_RESULTS) -> Measured:
    m = Measured()
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return m
    benches = doc.get("benchmarks", {})
    used = []
    serial = benches.get("pipeline", {}).get("serial_handler_median_ms") or {}
    for name, ms in serial.items():
        short = name.removesuffix("Function").lower()
        if short in m.cpu_ms:
            m.cpu_ms[short] = float(ms)
            used.append(f"{short} handler")
    inf = benches.get("inference", {})
    if inf.get("single_thread_ms", {}).get("fp32"):
        m.inference_1t_ms = float(inf["single_thread_ms"]["fp32"])
        used.append("inference 1 thread")
    if inf.get("onnxruntime_shipped", {}).get("median_ms"):
        m.inference_2t_ms = float(inf["onnxruntime_shipped"]["median_ms"])
    for r in benches.get("preprocess", {}).get("results", []):
        if "shipped" in r.get("details", {}):
            m.preprocess_ms = float(r["details"]["shipped"]["median_ms"])
            used.append("12 MP preprocess")
    cold = benches.get("coldstart", {}).get("cold_start", {}).get("classify", {})
    if cold.get("maxrss_mb"):
        m.peak_rss_mb = float(cold["maxrss_mb"])
    if used:
        m.source = f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path} ({', '.join(used)})"
    return m


# ------------------------------------------------------------------------------------------------ the model


def cpu_share(memory_mb: int, mb_per_vcpu: float = 1769.0) -> float:
    """vCPUs' worth of CPU time Lambda gives a function at this memory (1.0 at 1769 MB, proportional)."""
    return memory_mb / mb_per_vcpu


def lambda_duration_ms(cpu_ms: float, memory_mb: int, api_calls: int, *, mb_per_vcpu: float = 1769.0) -> float:
    """Single-threaded CPU work stretched by the CPU share below one vCPU, plus waiting on AWS calls."""
    return cpu_ms / min(1.0, cpu_share(memory_mb, mb_per_vcpu)) + api_calls * API_LATENCY_MS


def classify_local_ms(memory_mb: int, m: Measured, *, mb_per_vcpu: float = 1769.0) -> float:
    """Local classify of a 12 MP JPEG: decode+preprocess (1 thread) + inference (1 or 2 threads) + S3 GET."""
    share = cpu_share(memory_mb, mb_per_vcpu)
    pre = m.preprocess_ms / min(1.0, share)
    inference = m.inference_1t_ms / share if share <= 1.0 else max(m.inference_2t_ms, m.inference_1t_ms / share)
    return pre + inference + CLASSIFY_IO_MS


def rekognition_tiered(images: float, tiers: Sequence[dict[str, Any]]) -> float:
    """Monthly DetectLabels cost for ``images`` with cumulative volume tiers [{"up_to": N|None, "price": p}]."""
    total, lower = 0.0, 0.0
    for tier in tiers:
        upper = math.inf if tier["up_to"] is None else float(tier["up_to"])
        if images <= lower:
            break
        total += (min(images, upper) - lower) * float(tier["price"])
        lower = upper
    return total


@dataclass
class Item:
    service: str
    item: str
    quantity: float
    unit: str
    unit_price: float
    cost: float
    fixed: bool = False  # does not scale with volume


@dataclass
class Estimate:
    backend: str
    images: float
    items: list[Item]
    durations_ms: dict[str, float]

    @property
    def total(self) -> float:
        return sum(i.cost for i in self.items)

    @property
    def fixed(self) -> float:
        return sum(i.cost for i in self.items if i.fixed)

    def as_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "images": self.images,
            "total": self.total,
            "per_1000_images": self.total / self.images * 1000 if self.images else None,
            "fixed_monthly": self.fixed,
            "durations_ms": self.durations_ms,
            "items": [asdict(i) for i in self.items],
        }


def estimate(
    images: float,
    backend: str = "local",
    *,
    prices: dict[str, Any] | None = None,
    memory: dict[str, int] | None = None,
    measured: Measured | None = None,
    state_machine: str = "EXPRESS",
    near_duplicates: str | None = None,
) -> Estimate:
    """Itemised monthly cost of sorting ``images`` photos with ``backend``.

    ``near_duplicates``: the ``NearDuplicates`` setting (default: the template's); ``off`` prices no search.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {BACKENDS}")
    p = prices or load_prices()
    mem = memory or function_memory()
    m = measured or load_measured()
    mb_per_vcpu = price(p, "lambda", "mb_per_vcpu")
    n = float(images)
    items: list[Item] = []
    near = near_duplicates_default() if near_duplicates is None else near_duplicates
    near_duplicates = None if near == "off" else near

    def add(service: str, item: str, quantity: float, unit: str, unit_price: float, *, fixed: bool = False) -> None:
        items.append(Item(service, item, quantity, unit, unit_price, quantity * unit_price, fixed))

    # -- Lambda
    durations: dict[str, float] = {}
    for fn in FUNCTIONS:
        if fn == "classify" and backend == "local":
            durations[fn] = classify_local_ms(mem[fn], m, mb_per_vcpu=mb_per_vcpu)
            durations[fn] += lambda_duration_ms(INSPECT_CPU_MS, mem[fn], 0, mb_per_vcpu=mb_per_vcpu)
        elif fn == "classify":  # Inspect reads the bytes (CLASSIFY_IO_MS) whatever the backend
            durations[fn] = lambda_duration_ms(
                REMOTE_CLASSIFY_CPU_MS + INSPECT_CPU_MS, mem[fn], 0, mb_per_vcpu=mb_per_vcpu
            )
            durations[fn] += REMOTE_CLASSIFY_MS[backend] + CLASSIFY_IO_MS
        else:
            durations[fn] = lambda_duration_ms(m.cpu_ms[fn], mem[fn], API_CALLS[fn], mb_per_vcpu=mb_per_vcpu)
    gb_s = sum(mem[fn] / 1024.0 * math.ceil(durations[fn]) / 1000.0 for fn in FUNCTIONS)
    add(
        "Lambda",
        f"requests ({len(FUNCTIONS)} invocations/photo)",
        n * len(FUNCTIONS) / 1e6,
        "1M requests",
        price(p, "lambda", "requests"),
    )
    add(
        "Lambda",
        "duration, arm64 (" + ", ".join(f"{fn} {mem[fn]} MB x {durations[fn]:.0f} ms" for fn in FUNCTIONS) + ")",
        n * gb_s,
        "GB-s",
        price(p, "lambda", "arm64_gb_second"),
    )

    # -- Step Functions
    if state_machine == "EXPRESS":
        run_ms = sum(durations.values()) + TRANSITION_OVERHEAD_MS * len(FUNCTIONS)
        billed_ms = math.ceil(run_ms / price(p, "stepfunctions", "express_duration_rounding_ms")) * 100
        chunk_gb = price(p, "stepfunctions", "express_memory_chunk_mb") / 1024.0
        add("Step Functions", "Express requests", n / 1e6, "1M requests", price(p, "stepfunctions", "express_requests"))
        add(
            "Step Functions",
            f"Express duration ({billed_ms} ms billed x 64 MB)",
            n * chunk_gb * billed_ms / 1000.0,
            "GB-s",
            price(p, "stepfunctions", "express_gb_second"),
        )
    else:
        add(
            "Step Functions",
            f"Standard state transitions ({STANDARD_TRANSITIONS}/photo)",
            n * STANDARD_TRANSITIONS / 1000.0,
            "1k transitions",
            price(p, "stepfunctions", "standard_state_transitions"),
        )

    # -- EventBridge
    add(
        "EventBridge",
        "S3 Object Created events on the default bus (free)",
        n / 1e6,
        "1M events",
        price(p, "eventbridge", "aws_service_events_default_bus"),
    )

    # -- S3
    req = sorted_photo_requests(MEMBERSHIPS, gsis=len(gsi_item_kb()))
    service_gets = 1 if backend in ("rekognition", "custom-labels") else 0  # Rekognition reads the object itself
    gets = req.s3["GetObject"] + service_gets
    puts = 1 + req.s3["CopyObject"]  # the upload PUT, sort COPY
    add(
        "S3",
        f"PUT/COPY ({puts}/photo: upload PUT, sort COPY)",
        n * puts / 1000.0,
        "1k requests",
        price(p, "s3", "put_copy_post_list"),
    )
    add(
        "S3",
        f"GET ({gets}/photo: Classify's one read, inspect and labels from the same bytes"
        + (", Rekognition's own read" if service_gets else "")
        + "; no HEAD: the copy is conditional and verified by its checksum)",
        n * gets / 1000.0,
        "1k requests",
        price(p, "s3", "get_head_select"),
    )
    add("S3", "DELETE (1/photo, free)", n * req.s3["DeleteObject"] / 1000.0, "1k requests", price(p, "s3", "delete"))

    # -- DynamoDB
    add(
        "DynamoDB",
        f"write request units ({req.wru:g}/photo: bytes claim, record under 1 KB, {MEMBERSHIPS} album member; "
        "no transaction, no GSI)",
        n * req.wru / 1e6,
        "1M WRU",
        price(p, "dynamodb", "write_request_units"),
    )
    add(
        "DynamoDB",
        f"read request units ({req.rru:g}/photo: no read on the normal path; album items once per warm container)",
        n * req.rru / 1e6,
        "1M RRU",
        price(p, "dynamodb", "read_request_units"),
    )
    if near_duplicates:
        query_rru = neardup_top_k() * 0.5 * math.ceil(NEAR_QUERY_KB / 4)
        index_wru = FIRST_PHOTO_SHARE * neardup_top_k() * NEAR_INDEX_ITEM_KB
        add(
            "DynamoDB",
            f"near-duplicate search (opt-in, NearDuplicates={near_duplicates}): {neardup_top_k()} Queries "
            f"({query_rru:g} RRU at full partitions)",
            n * query_rru / 1e6,
            "1M RRU",
            price(p, "dynamodb", "read_request_units"),
        )
        add(
            "DynamoDB",
            f"near-duplicate index (opt-in): {index_wru:g} WRU per first photo ({neardup_top_k()} items of ~1.9 KB)",
            n * index_wru / 1e6,
            "1M WRU",
            price(p, "dynamodb", "write_request_units"),
        )

    # -- the classifier service
    if backend == "rekognition":
        tiers = p["rekognition"]["detect_labels_tiers"]["tiers"]
        cost = rekognition_tiered(n, tiers)
        items.append(
            Item("Rekognition", "DetectLabels (tiered)", n, "images", cost / n if n else tiers[0]["price"], cost)
        )
    elif backend == "custom-labels":
        hours = p["hours_per_month"] * CUSTOM_LABELS_INFERENCE_UNITS
        add(
            "Rekognition",
            f"Custom Labels, {CUSTOM_LABELS_INFERENCE_UNITS} inference unit running all month",
            hours,
            "IU-hours",
            price(p, "rekognition", "custom_labels_inference_unit_hour"),
            fixed=True,
        )
    elif backend == "sagemaker":
        hours = p["hours_per_month"] * SAGEMAKER_INSTANCES
        add(
            "SageMaker",
            f"real-time endpoint, {SAGEMAKER_INSTANCES} x {SAGEMAKER_INSTANCE} all month",
            hours,
            "instance-hours",
            price(p, "sagemaker", SAGEMAKER_INSTANCE),
            fixed=True,
        )

    elif backend == "bedrock":
        from photosort_local.cost.bedrock import per_image

        tokens, input_price, output_price = per_image(p)
        add(
            "Bedrock",
            f"Nova Lite input ({tokens.image_tokens} image + {tokens.text_tokens} text tokens/photo)",
            n * tokens.input_tokens / 1000.0,
            "1k tokens",
            input_price,
        )
        add(
            "Bedrock",
            f"Nova Lite output ({tokens.output_tokens} tokens/photo)",
            n * tokens.output_tokens / 1000.0,
            "1k tokens",
            output_price,
        )

    # -- observability
    reservoir, rate, log_sample = sampling()
    log_kb = (
        EMF_BYTES_PER_PHOTO * len(METRIC_FUNCTIONS) / 1024 + log_sample * len(FUNCTIONS) * LOG_KB_SAMPLED_INVOCATION
    )
    add(
        "CloudWatch Logs",
        f"ingestion ({log_kb:.2f} KB/photo: EMF metrics, {log_sample:.0%} of invocations fully logged)",
        n * log_kb / 1024 / 1024,
        "GB",
        price(p, "cloudwatch", "logs_ingestion_gb"),
    )
    reserved = reservoir * SECONDS_PER_MONTH
    traces = min(n, reserved) + rate * max(0.0, n - reserved)
    add(
        "X-Ray",
        f"traces recorded (sampling: {reservoir:.0f}/s reservoir + {rate:.0%})",
        traces / 1e6,
        "1M traces",
        price(p, "xray", "traces_recorded"),
    )
    return Estimate(backend=backend, images=n, items=items, durations_ms=durations)


def break_even(
    cost_a: Callable[[float], float], cost_b: Callable[[float], float], lo: float = 1.0, hi: float = 1e10
) -> float | None:
    """Monthly volume where the two cost curves cross (a - b changes sign), by bisection on a log scale."""
    fa, fb = cost_a(lo) - cost_b(lo), cost_a(hi) - cost_b(hi)
    if fa == 0:
        return lo
    if fa * fb > 0:
        return None
    for _ in range(200):
        mid = math.sqrt(lo * hi)
        fm = cost_a(mid) - cost_b(mid)
        if (fm > 0) == (fa > 0):
            lo, fa = mid, fm
        else:
            hi = mid
        if hi / lo < 1 + 1e-9:
            break
    return math.sqrt(lo * hi)


def break_even_vs_rekognition(backend: str, **kw: Any) -> float | None:
    if backend in ("local", "rekognition"):
        return None
    return break_even(lambda v: estimate(v, backend, **kw).total, lambda v: estimate(v, "rekognition", **kw).total)


# ------------------------------------------------------------------------------------------------ memory sizing


def memory_table(
    sizes: Sequence[int] = (512, 1024, 2048), *, prices: dict[str, Any] | None = None, measured: Measured | None = None
) -> list[dict[str, Any]]:
    """Classify (local backend, 12 MP JPEG): estimated duration and cost per million invocations by memory."""
    p = prices or load_prices()
    m = measured or load_measured()
    mb_per_vcpu = price(p, "lambda", "mb_per_vcpu")
    rows = []
    for mb in sizes:
        ms = classify_local_ms(mb, m, mb_per_vcpu=mb_per_vcpu)
        per_million = 1e6 * (mb / 1024.0 * math.ceil(ms) / 1000.0 * price(p, "lambda", "arm64_gb_second")) + price(
            p, "lambda", "requests"
        )
        rows.append(
            {
                "memory_mb": mb,
                "vcpu_share": round(cpu_share(mb, mb_per_vcpu), 3),
                "duration_ms": round(ms, 1),
                "cost_per_million": round(per_million, 4),
                "acceptable": ms <= ACCEPTABLE_CLASSIFY_MS and (m.peak_rss_mb is None or m.peak_rss_mb < 0.8 * mb),
            }
        )
    return rows


def recommended_memory(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    ok = [r for r in rows if r["acceptable"]]
    return min(ok, key=lambda r: (r["cost_per_million"], r["memory_mb"])) if ok else None

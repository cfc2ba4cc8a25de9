"""What photosort costs per month on AWS: an itemised per-photo resource model times dated list prices.

Prices come from ``prices.json`` (us-east-1, dated, with sources; some marked unverified). The resource model
counts what the code does for one sorted photo (the common path: inspect, classify, record, sort):

* Lambda: 4 invocations; memory from template.yaml (Globals + per-function MemorySize); duration from
  ``bench/results/latest.json`` when it exists (warm handler CPU time, scaled by the CPU share Lambda gives at
  that memory, plus a network allowance per AWS call), else the documented defaults below.
* S3 (storage.py / pipeline.py): the upload PUT; Inspect: HEAD (resolve) + GET (read); Classify: GET (local and
  SageMaker read the bytes; Rekognition reads the S3 object itself); Sort (storage.move): HEAD destination,
  HEAD source, COPY, HEAD destination again to verify, DELETE (free). HEAD is billed as a GET.
* DynamoDB (repository.py): Record does one strongly consistent GetItem (1 RRU) and one TransactWriteItems with
  the image item, the hash claim and, per album membership, a member item and a counter update. Transactional
  writes cost 2 WRU per 1 KB; the image item is also written to GSI1 and GSI2 (projection ALL, 1 WRU per KB each).
* Step Functions Express: 1 request; duration = the steps' durations plus transition overhead, rounded up to
  100 ms, at 64 MB. Standard: 6 state transitions on the sorted path.
* EventBridge: S3 events to the default bus are free. CloudWatch Logs: ~2 KB per invocation. X-Ray: one trace
  per photo recorded up to the 1 request/s reservoir, then 5% (default sampling rule).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from photosort_local.cost.prices import load_prices, price
from photosort_local.sam import load_sam_template

REPO = Path(__file__).resolve().parents[3]
TEMPLATE = REPO / "template.yaml"
BENCH_RESULTS = REPO / "bench" / "results" / "latest.json"

BACKENDS = ("local", "rekognition", "custom-labels", "sagemaker")
FUNCTIONS = ("inspect", "classify", "record", "sort")  # quarantine only runs on failures
SECONDS_PER_MONTH = 730 * 3600

# Defaults when there are no bench results: warm handler CPU time in ms at 1 full vCPU (measured on the
# embedded stack, serial run, rounded) and AWS API calls per invocation (each adds API_LATENCY_MS of waiting).
DEFAULT_CPU_MS = {"inspect": 45.0, "classify": 60.0, "record": 60.0, "sort": 60.0}
API_CALLS = {"inspect": 2, "classify": 1, "record": 2, "sort": 5}
API_LATENCY_MS = 15.0  # one S3 / DynamoDB request from Lambda in-region (assumption)
REMOTE_CLASSIFY_MS = {"rekognition": 400.0, "custom-labels": 300.0, "sagemaker": 120.0}  # call latency (assumption)
REMOTE_CLASSIFY_CPU_MS = 10.0  # building the request and parsing labels
DEFAULT_INFERENCE_1T_MS = 13.0  # fp32, one thread (bench inference), used by the memory table
DEFAULT_PREPROCESS_MS = 45.0  # 12 MP JPEG decode (draft) + preprocess (bench preprocess)
CLASSIFY_IO_MS = 30.0  # S3 GET of a multi-MB photo (assumption)
ACCEPTABLE_CLASSIFY_MS = 1000.0
TRANSITION_OVERHEAD_MS = 50.0  # per Task state in Express, on top of the Lambda durations (assumption)
LOG_KB_PER_INVOCATION = 2.0
XRAY_RESERVOIR_PER_MONTH = SECONDS_PER_MONTH  # 1 trace/s reservoir, then 5%
XRAY_FIXED_RATE = 0.05
IMAGE_ITEM_KB = 3  # the image record with 20 labels and metadata (rounded up to whole KB)
SMALL_ITEM_KB = 1
MEMBERSHIPS = 2
STANDARD_TRANSITIONS = 6  # Inspect, IsStillThere, IsUsable, Classify, Record, Sort
CUSTOM_LABELS_INFERENCE_UNITS = 1
SAGEMAKER_INSTANCE = "ml.c5.large"
SAGEMAKER_INSTANCES = 1


# ------------------------------------------------------------------------------------------------ inputs


def function_memory(path: Path = TEMPLATE) -> dict[str, int]:
    """MemorySize per function (short name: inspect, classify, ...): the function's own, else Globals, else 128."""
    return dict(_function_memory(path, path.stat().st_mtime_ns))


@functools.lru_cache(maxsize=8)
def _function_memory(path: Path, _mtime: int) -> tuple[tuple[str, int], ...]:
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
) -> Estimate:
    """Itemised monthly cost of sorting ``images`` photos with ``backend``."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {BACKENDS}")
    p = prices or load_prices()
    mem = memory or function_memory()
    m = measured or load_measured()
    mb_per_vcpu = price(p, "lambda", "mb_per_vcpu")
    n = float(images)
    items: list[Item] = []

    def add(service: str, item: str, quantity: float, unit: str, unit_price: float, *, fixed: bool = False) -> None:
        items.append(Item(service, item, quantity, unit, unit_price, quantity * unit_price, fixed))

    # -- Lambda
    durations: dict[str, float] = {}
    for fn in FUNCTIONS:
        if fn == "classify" and backend == "local":
            durations[fn] = classify_local_ms(mem[fn], m, mb_per_vcpu=mb_per_vcpu)
        elif fn == "classify":
            durations[fn] = lambda_duration_ms(REMOTE_CLASSIFY_CPU_MS, mem[fn], 0, mb_per_vcpu=mb_per_vcpu)
            durations[fn] += REMOTE_CLASSIFY_MS[backend] + (CLASSIFY_IO_MS if backend == "sagemaker" else 0.0)
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
    classify_gets = 0 if backend in ("rekognition", "custom-labels") else 1
    service_gets = 1 if backend in ("rekognition", "custom-labels") else 0  # Rekognition reads the object itself
    gets = 1 + 1 + classify_gets + service_gets + 3  # inspect HEAD+GET, classify GET, sort 3 HEADs
    puts = 1 + 1  # the upload PUT, sort COPY
    add(
        "S3",
        f"PUT/COPY ({puts}/photo: upload PUT, sort COPY)",
        n * puts / 1000.0,
        "1k requests",
        price(p, "s3", "put_copy_post_list"),
    )
    add(
        "S3",
        f"GET/HEAD ({gets}/photo: inspect HEAD+GET, classify GET, sort 3 HEAD)",
        n * gets / 1000.0,
        "1k requests",
        price(p, "s3", "get_head_select"),
    )
    add("S3", "DELETE (1/photo, free)", n / 1000.0, "1k requests", price(p, "s3", "delete"))

    # -- DynamoDB
    wru = 2 * (IMAGE_ITEM_KB + SMALL_ITEM_KB + MEMBERSHIPS * 2 * SMALL_ITEM_KB) + 2 * IMAGE_ITEM_KB
    add(
        "DynamoDB",
        f"write request units ({wru}/photo: transaction x2, {MEMBERSHIPS} albums, 2 GSIs)",
        n * wru / 1e6,
        "1M WRU",
        price(p, "dynamodb", "write_request_units"),
    )
    add(
        "DynamoDB",
        "read request units (1/photo: consistent GetItem)",
        n / 1e6,
        "1M RRU",
        price(p, "dynamodb", "read_request_units"),
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

    # -- observability
    add(
        "CloudWatch Logs",
        f"ingestion (~{LOG_KB_PER_INVOCATION:.0f} KB/invocation)",
        n * len(FUNCTIONS) * LOG_KB_PER_INVOCATION / 1024 / 1024,
        "GB",
        price(p, "cloudwatch", "logs_ingestion_gb"),
    )
    traces = min(n, XRAY_RESERVOIR_PER_MONTH) + XRAY_FIXED_RATE * max(0.0, n - XRAY_RESERVOIR_PER_MONTH)
    add("X-Ray", "traces recorded (1/s reservoir + 5%)", traces / 1e6, "1M traces", price(p, "xray", "traces_recorded"))
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

"""Benchmark 4: pipeline throughput on the embedded stack (S3 -> EventBridge -> Step Functions -> Lambdas, moto,
local backend), and the per-photo overhead of the workflow compared with the classify function alone.

100 uploads of the sample photos re-encoded so every one has distinct bytes (no duplicates). Cold starts are
taken out by a warm-up upload first. Every Lambda invocation is timed inside the runner, so the report also
gives each function's warm duration here (moto answers S3/DynamoDB in-process: no network latency).

moto serves each AWS call inside the calling handler's thread, so a handler's wall time here includes the
service's own work (S3 storing the bytes, DynamoDB evaluating the transaction, EventBridge matching rules),
which on AWS is waiting, not the function's CPU. Every call into moto is timed (:class:`MotoClock`) and the
serial run reports each handler both ways: ``serial_handler_median_ms`` without moto's share (what
``photosort cost`` uses, adding its own allowance per AWS call) and ``serial_handler_with_moto_median_ms``.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from io import BytesIO
from typing import Any

from bench import Result, report


class MotoClock:
    """Seconds spent inside moto's in-process request handling, per thread, while installed."""

    def __init__(self) -> None:
        import threading

        self._local = threading.local()
        self._original: Any = None

    def spent(self) -> float:
        return float(getattr(self._local, "spent", 0.0))

    def timed_handler(self, handler: Any, event: Any, context: Any) -> tuple[Any, float, float]:
        """Run a handler: (its result, wall ms, ms of it inside moto). The engine invokes handlers from inside a
        moto call (Lambda Invoke), so the handler's own calls are counted from depth 0 again."""
        local = self._local
        depth, local.depth = getattr(local, "depth", 0), 0
        t0, before = time.perf_counter(), self.spent()
        try:
            result = handler(event, context)
        finally:
            local.depth = depth
        return result, (time.perf_counter() - t0) * 1000.0, (self.spent() - before) * 1000.0

    def __enter__(self) -> MotoClock:
        from moto.core.botocore_stubber import BotocoreStubber

        self._original = original = BotocoreStubber.__call__
        local = self._local

        def timed_call(stub: Any, event_name: str, request: Any, **kwargs: Any) -> Any:
            depth = getattr(local, "depth", 0)
            local.depth = depth + 1
            t0 = time.perf_counter()
            try:
                return original(stub, event_name, request, **kwargs)
            finally:
                local.depth = depth
                if depth == 0:  # a call moto makes while answering one is already inside the outer timing
                    local.spent = getattr(local, "spent", 0.0) + time.perf_counter() - t0

        BotocoreStubber.__call__ = timed_call
        return self

    def __exit__(self, *exc: object) -> None:
        from moto.core.botocore_stubber import BotocoreStubber

        BotocoreStubber.__call__ = self._original


NAME = "pipeline"
UPLOADS = 100
SERIAL = 16


def varied_photos(n: int) -> list[tuple[str, bytes]]:
    from PIL import Image

    from photosort_local.samples import SAMPLES, SampleNotFoundError, find_sample

    bases = []
    for name in SAMPLES:
        try:
            with Image.open(find_sample(name)) as img:
                bases.append((name, img.convert("RGB")))
        except SampleNotFoundError:
            continue
    out = []
    for i in range(n):
        name, img = bases[i % len(bases)]
        k = i // len(bases) + 1
        w, h = img.size
        variant = img.crop((k, k, w - k, h - k))  # a different crop per round: distinct bytes, same content
        buf = BytesIO()
        variant.save(buf, format="JPEG", quality=85 + (i % 10))
        out.append((f"{name}-{i:03d}.jpg", buf.getvalue()))
    return out


def run() -> tuple[list[Result], dict[str, Any]]:
    from photosort.backends.local import LocalClassifier
    from photosort_local.stack import EmbeddedStack

    results: list[Result] = []
    photos = varied_photos(UPLOADS)
    assert len({data for _, data in photos}) == len(photos), "photos must have distinct bytes"

    durations: dict[str, list[float]] = defaultdict(list)
    own: dict[str, list[float]] = defaultdict(list)  # the same, less the time spent inside moto
    with EmbeddedStack() as stack, MotoClock() as moto_clock:
        runner = stack.runner
        assert runner is not None
        s3 = stack.s3
        # Warm-up: one photo through every step, so every container is initialised (cold starts: bench coldstart).
        s3.put_object(Bucket=stack.bucket, Key="incoming/warmup/warm.jpg", Body=varied_photos(9)[8][1])
        stack.wait_idle(timeout=300)
        for container in runner._containers.values():

            def timed(event: Any, context: Any, _h: Any = container.handler, _n: str = container.spec.name) -> Any:
                result, total, in_moto = moto_clock.timed_handler(_h, event, context)
                durations[_n].append(total)
                own[_n].append(total - in_moto)
                return result

            container.handler = timed

        # Serial latency: one photo at a time, so handler durations are not inflated by the other executions.
        serial = varied_photos(UPLOADS + SERIAL)[UPLOADS:]
        t0 = time.perf_counter()
        for name, data in serial:
            s3.put_object(Bucket=stack.bucket, Key=f"incoming/serial/{name}", Body=data)
            stack.wait_idle(timeout=120)
        serial_ms = (time.perf_counter() - t0) * 1000.0 / len(serial)
        serial_fn = _medians(own)
        serial_with_moto = _medians(durations)
        durations.clear()
        own.clear()
        before = set(stack.executions())

        start = time.perf_counter()
        for name, data in photos:
            s3.put_object(Bucket=stack.bucket, Key=f"incoming/bench/{name}", Body=data)
        outcomes = [o for o in stack.wait_idle(timeout=600) if o.arn not in before]
        wall = time.perf_counter() - start
        statuses: dict[str, int] = defaultdict(int)
        for o in outcomes:
            statuses[o.status] += 1
        fn_ms = {
            name.split("-")[1] if "-" in name else name: {
                "n": len(v),
                "median_ms": round(statistics.median(v), 2),
                "mean_ms": round(statistics.fmean(v), 2),
            }
            for name, v in durations.items()
        }

    # Classify alone: the same photos through the local classifier, in this process, no AWS at all.
    classifier = LocalClassifier(variant="fp32")
    for _, data in photos[:5]:
        classifier.classify_bytes(data)
    t0 = time.perf_counter()
    for _, data in photos:
        classifier.classify_bytes(data)
    classify_ms = (time.perf_counter() - t0) * 1000.0 / len(photos)

    per_photo_ms = wall * 1000.0 / len(photos)
    throughput = len(photos) / wall
    ok = statuses.get("SUCCEEDED", 0) == len(photos) == len(outcomes)
    report(
        results,
        Result(
            name=f"pipeline: throughput, {len(photos)} uploads through the embedded stack",
            figure=throughput,
            unit="photos/s",
            target="every execution SUCCEEDED",
            ratio=per_photo_ms / classify_ms,
            ratio_label=f"wall per photo {per_photo_ms:.1f} ms / classify alone {classify_ms:.1f} ms; "
            f"workflow overhead {per_photo_ms - classify_ms:.1f} ms/photo; statuses {dict(statuses)}",
            passed=ok,
            details={"wall_s": wall, "statuses": dict(statuses), "functions": fn_ms, "classify_alone_ms": classify_ms},
        ),
    )
    report(
        results,
        Result(
            name=f"pipeline: serial latency, one photo at a time ({len(serial)} photos)",
            figure=serial_ms,
            unit="ms/photo",
            target="",
            ratio=serial_ms / classify_ms,
            ratio_label=f"end-to-end {serial_ms:.1f} ms / classify alone {classify_ms:.1f} ms",
            passed=None,
            details={"handler_median_ms": serial_fn, "handler_with_moto_median_ms": serial_with_moto},
        ),
    )
    print("  warm handler durations, median ms (serial run without moto's share | with it | concurrent run):")
    for name in sorted(set(fn_ms) | set(serial_fn)):
        print(
            f"    {name:<30} {serial_fn.get(name, float('nan')):8.2f} | {serial_with_moto.get(name, float('nan')):8.2f}"
            f" | {fn_ms.get(name, {}).get('median_ms', float('nan')):8.2f}"
        )
    return results, {
        "functions": fn_ms,
        "serial_handler_median_ms": serial_fn,
        "serial_handler_with_moto_median_ms": serial_with_moto,
        "serial_ms_per_photo": serial_ms,
        "classify_alone_ms": classify_ms,
        "per_photo_ms": per_photo_ms,
    }


def _medians(samples: dict[str, list[float]]) -> dict[str, float]:
    """Median per function, keyed by the function's short name (the runner names them stack-Function-suffix)."""
    return {name.split("-")[1] if "-" in name else name: round(statistics.median(v), 2) for name, v in samples.items()}

"""Benchmark 6: the cost of the embedding (the classifier ONNX's second output) and what is built on it.

The pooled features are the input of the classifier's last layer, so onnxruntime computes them in every run
anyway; exporting them as a second output adds a 1280-float copy. Measured here: one run fetching only the
logits vs both outputs (same session), the int8 encoding, applying a few-shot head, and the bytes the
embedding adds to the record and to the near-duplicate index.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from bench import Result, compare, measure, report

NAME = "embeddings"


def run() -> tuple[list[Result], dict[str, Any]]:
    from photosort import embeddings, fewshot, neardup
    from photosort.backends import local
    from photosort_local.samples import find_sample

    results: list[Result] = []
    session = local.get_session("fp32")
    tensor = local.preprocess(find_sample("china").read_bytes())
    t = compare(
        {
            "logits only": lambda: session.run(["logits"], {"input": tensor}),
            "logits + embedding": lambda: session.run(None, {"input": tensor}),
        },
        rounds=4,
        block_s=0.75,
    )
    extra = t["logits + embedding"].median_ms - t["logits only"].median_ms
    report(
        results,
        Result(
            name="embedding: extra time of the second output per onnxruntime run",
            figure=extra,
            unit="ms/image",
            target="< 5% of the run",
            ratio=t["logits + embedding"].median_ms / t["logits only"].median_ms,
            ratio_label=f"both {t['logits + embedding'].median_ms:.2f} ms / logits {t['logits only'].median_ms:.2f} ms",
            passed=extra < 0.05 * t["logits only"].median_ms,
            details={k: v.as_dict() for k, v in t.items()},
        ),
    )
    features = session.run(None, {"input": tensor})[1][0]
    enc = measure(lambda: embeddings.encode(features, "v"))
    report(
        results, Result(name="embedding: normalise + int8 + base64", figure=enc.median_ms, unit="ms/image", target="")
    )
    rng = np.random.RandomState(0)
    x = rng.standard_normal((30, features.shape[0])).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    head = fewshot.train_head("bench", x, np.arange(30) % 5, tuple("abcde"), "v", folds=3)
    vector = embeddings.normalise(features)
    applied = measure(lambda: head.labels_for(vector, "v"))
    report(
        results, Result(name="few-shot head (5 labels): apply", figure=applied.median_ms, unit="ms/image", target="")
    )
    e = embeddings.encode(features, "efficientnet-lite0-imagenet-fp32-d61a4ddf")
    attr = len(json.dumps(e.model_dump()))
    index_items = len(neardup.partitions(e))
    per_item = len(e.data) + 120  # keys, type, image id
    report(
        results,
        Result(
            name="embedding: bytes added to the DynamoDB record",
            figure=attr,
            unit="bytes",
            target="< 4 KB (400 KB item limit)",
            passed=attr < 4096,
            details={"index_items_per_first_photo": index_items, "bytes_per_index_item": per_item},
        ),
    )
    print(f"    near-duplicate index: {index_items} items of ~{per_item} B per first photo (2 WRU each)")
    return results, {}

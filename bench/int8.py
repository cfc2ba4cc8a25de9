"""Benchmark 3: int8 vs fp32 local model: same top-1 on every sample photo, and the speed of each."""

from __future__ import annotations

from typing import Any

from bench import Result, compare, report

NAME = "int8"


def run() -> tuple[list[Result], dict[str, Any]]:
    from photosort.backends import local
    from photosort_local.samples import SAMPLES, SampleNotFoundError, find_sample

    results: list[Result] = []
    fp32, int8 = local.LocalClassifier(variant="fp32"), local.LocalClassifier(variant="int8")
    s32, s8 = local.get_session("fp32"), local.get_session("int8")
    photos: dict[str, Any] = {}
    for name in SAMPLES:
        try:
            tensor = local.preprocess(find_sample(name).read_bytes())
        except SampleNotFoundError:
            continue
        p32 = local.softmax(s32.run(None, {"input": tensor})[0][0])
        p8 = local.softmax(s8.run(None, {"input": tensor})[0][0])
        a, b = int(p32.argmax()), int(p8.argmax())
        photos[name] = {
            "fp32_top1": local.label_table().class_names[a],
            "int8_top1": local.label_table().class_names[b],
            "fp32_p": round(float(p32[a]), 4),
            "int8_p": round(float(p8[b]), 4),
            "same": a == b,
            "first_label_fp32": fp32.classify_tensor(tensor).labels[0].name,
            "first_label_int8": int8.classify_tensor(tensor).labels[0].name,
        }
    agree = sum(p["same"] for p in photos.values())
    for name, p in photos.items():
        print(
            f"    {name:<16} fp32 {p['fp32_top1']!r} ({p['fp32_p']:.2f})  int8 {p['int8_top1']!r} ({p['int8_p']:.2f})"
            f"{'' if p['same'] else '  <-- differs'}"
        )
    report(
        results,
        Result(
            name="int8: same top-1 as fp32 on the sample photos",
            figure=agree,
            unit=f"of {len(photos)} photos",
            target="all the same",
            ratio=None,
            passed=agree == len(photos),
            details={"photos": photos},
        ),
    )
    tensor = local.preprocess(find_sample("china").read_bytes())
    t = compare(
        {"fp32": lambda: s32.run(None, {"input": tensor}), "int8": lambda: s8.run(None, {"input": tensor})},
        rounds=4,
        block_s=0.75,
    )
    ratio = t["fp32"].median_ms / t["int8"].median_ms
    report(
        results,
        Result(
            name="int8: inference speed vs fp32 (shipped session options)",
            figure=t["int8"].median_ms,
            unit="ms/image",
            target="",
            ratio=ratio,
            ratio_label=f"fp32 {t['fp32'].median_ms:.2f} ms / int8 {t['int8'].median_ms:.2f} ms",
            passed=None,
            details={"fp32": t["fp32"].as_dict(), "int8": t["int8"].as_dict()},
        ),
    )
    return results, {}

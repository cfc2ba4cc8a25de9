"""``python -m bench [NAME ...]``: run the benchmarks (all by default) and write bench/results/latest.json."""

from __future__ import annotations

import argparse
import importlib
import sys
import time

from bench import LATEST, machine_info, results_dict, save_latest

BENCHMARKS = {
    "inference": "bench.inference",
    "preprocess": "bench.preprocess",
    "thumbnail": "bench.thumbnail",
    "faces": "bench.faces",
    "int8": "bench.int8",
    "pipeline": "bench.pipeline",
    "coldstart": "bench.coldstart",
    "embeddings": "bench.embeddings",
    "localsort": "bench.localsort",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "names",
        nargs="*",
        choices=[[], *BENCHMARKS],
        metavar="NAME",
        help=f"benchmarks to run (default: all): {', '.join(BENCHMARKS)}",
    )
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/latest.json")
    args = parser.parse_args(argv)
    names = args.names or list(BENCHMARKS)

    info = machine_info()
    print(
        f"machine: {info['model_name']}, {info['cores']} cores @ {info['cpu_ghz']} GHz, {info['flags_simd']}; "
        f"Python {info['python']}, onnxruntime {info['onnxruntime']}"
    )
    done: dict[str, dict] = {}
    misses = 0
    for name in names:
        print(f"\n== {name}", flush=True)
        start = time.perf_counter()
        module = importlib.import_module(BENCHMARKS[name])
        results, extra = module.run()
        elapsed = time.perf_counter() - start
        print(f"  ({elapsed:.1f} s)")
        done[name] = results_dict(results, {"seconds": round(elapsed, 1), **extra})
        misses += sum(1 for r in results if r.passed is False)
    if not args.no_save:
        save_latest(done)
        print(f"\nwrote {LATEST}")
    print(f"{misses} target(s) missed" if misses else "all targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())

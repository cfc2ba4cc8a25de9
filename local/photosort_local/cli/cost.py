"""``photosort cost``: itemised monthly AWS cost per classifier backend (see :mod:`photosort_local.cost`).

``photosort cost --images N [--backend local|rekognition|custom-labels|sagemaker|bedrock|all] [--json] [--plot FILE]``
``photosort cost --memory-table``
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from photosort_local.cost import model, report
from photosort_local.cost.prices import load_prices

if TYPE_CHECKING:
    from photosort_local.cli.common import Subcommands


def add_parser(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "cost",
        help="itemised monthly AWS cost per classifier backend",
        description="What photosort costs per month on AWS: an itemised per-photo resource model times dated "
        "list prices.",
    )
    parser.add_argument("--images", type=float, default=10_000, help="photos per month (default 10000)")
    parser.add_argument("--backend", choices=[*model.BACKENDS, "all"], default="all")
    parser.add_argument("--state-machine", choices=["EXPRESS", "STANDARD"], default="EXPRESS")
    parser.add_argument(
        "--near-duplicates",
        choices=["off", "record", "set-aside"],
        default=None,
        help="price the near-duplicate search as if NearDuplicates were this (default: the template's, off)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--plot", metavar="FILE", help="write a PNG of monthly cost vs volume (1k..100M) per backend")
    parser.add_argument(
        "--memory-table", action="store_true", help="classify duration and cost per million at 512/1024/2048 MB"
    )
    parser.set_defaults(run=run)


def _memory_table(args: argparse.Namespace, prices: dict[str, Any], measured: model.Measured) -> int:
    rows = model.memory_table(prices=prices, measured=measured)
    best = model.recommended_memory(rows)
    if args.json:
        doc = {"classify_memory_table": rows, "recommended": best, "measured_from": measured.source}
        print(json.dumps(doc, indent=2))
    else:
        print(report.format_memory_table(rows, best, measured))
    return 0


def run(args: argparse.Namespace) -> int:
    prices = load_prices()
    measured = model.load_measured()
    memory = model.function_memory()
    if args.memory_table:
        return _memory_table(args, prices, measured)
    backends = list(model.BACKENDS) if args.backend == "all" else [args.backend]
    kw: dict[str, Any] = {"prices": prices, "memory": memory, "measured": measured}
    out = {
        b: (
            model.estimate(
                args.images, b, state_machine=args.state_machine, near_duplicates=args.near_duplicates, **kw
            ),
            model.break_even_vs_rekognition(b, state_machine=args.state_machine, **kw),
        )
        for b in backends
    }
    if args.json:
        doc = {
            "images": args.images,
            "region": prices["region"],
            "prices_asserted_on": prices["asserted_on"],
            "measured_from": measured.source,
            "backends": {b: {**est.as_dict(), "break_even_vs_rekognition": be} for b, (est, be) in out.items()},
        }
        print(json.dumps(doc, indent=2))
    else:
        print(
            f"photosort monthly cost, {prices['region']} list prices asserted {prices['asserted_on']} "
            f"(see local/photosort_local/prices.json); durations from {measured.source}\n"
        )
        print("\n\n".join(report.format_estimate(est, be) for est, be in out.values()))
    if args.plot:
        print(f"\nwrote {report.plot(Path(args.plot), **kw)}")
    return 0

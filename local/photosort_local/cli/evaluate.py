"""``photosort evaluate DIR [--backend NAME ...] [--rules FILE] [--volume N] [--report FILE.html]``.

Measures each backend on a labelled folder (see :mod:`photosort_local.evaluate`), prints a summary and a
recommendation, and optionally writes an HTML report with confusion matrices. Backends that cannot run here
are listed as skipped with the reason; results are cached in DIR/.photosort-evaluate.jsonl (or --cache).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from photosort_local.cli.classify import add_backend_options, backend_options
from photosort_local.cli.common import CliError, UsageError
from photosort_local.file_backends import BACKEND_NAMES, BackendNotReady, open_backend

DEFAULT_VOLUME = 10_000


def _percent(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError("must be a percentage, 0-100")
    return value / 100.0


def add_parser(subcommands: Any) -> None:
    parser = subcommands.add_parser(
        "evaluate",
        help="measure backends on your own labelled photos and recommend the cheapest that is good enough",
        description="DIR holds one sub-folder per expected album (unsorted/ for photos that belong nowhere, "
        "_any/ for no expectation), or is a CSV of file,album rows. Each backend classifies every photo as "
        "the pipeline would; the rules route it; the results are scored and costed.",
    )
    parser.add_argument("dataset", metavar="DIR", help="labelled folder (or a .csv of file,album)")
    parser.add_argument(
        "--backend",
        dest="backends",
        action="append",
        choices=BACKEND_NAMES,
        help="a backend to measure; repeat for several (default: local)",
    )
    parser.add_argument("--rules", metavar="FILE", help="routing rules (YAML/JSON file or preset; default family)")
    parser.add_argument(
        "--volume", type=float, default=DEFAULT_VOLUME, help=f"photos per month to cost (default {DEFAULT_VOLUME})"
    )
    parser.add_argument("--report", metavar="FILE.html", help="also write an HTML report with confusion matrices")
    parser.add_argument("--min-right", type=_percent, default=0.90, metavar="PCT", help="target: right album (90)")
    parser.add_argument("--max-wrong", type=_percent, default=0.02, metavar="PCT", help="target: wrong album (2)")
    parser.add_argument("--cache", metavar="FILE", help="result cache (default DIR/.photosort-evaluate.jsonl)")
    parser.add_argument("--no-cache", action="store_true", help="classify everything again and keep nothing")
    parser.add_argument("--json", action="store_true", help="one JSON document instead of the summary")
    add_backend_options(parser)
    parser.set_defaults(run=run)


def few_shot_available() -> bool:
    """True when this photosort has ``photosort labels train`` (few-shot heads from a folder)."""
    from photosort_local.cli import COMMAND_MODULES

    return "photosort_local.cli.labels" in COMMAND_MODULES


def _cache_path(args: argparse.Namespace) -> Path | None:
    from photosort_local.evaluate import CACHE_NAME

    if args.no_cache:
        return None
    if args.cache:
        return Path(args.cache)
    dataset = Path(args.dataset)
    return (dataset if dataset.is_dir() else dataset.parent) / CACHE_NAME


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from photosort.routing import load_rules
    from photosort_local import evaluate, evaluate_report
    from photosort_local.cli.inputs import load_rules_file
    from photosort_local.cost.model import estimate, function_memory, load_measured
    from photosort_local.cost.prices import load_prices

    rules_param = load_rules_file(args.rules) if args.rules else "family"
    rules = load_rules(rules_param)
    albums = [rule.album for rule in rules.rules]
    try:
        samples = evaluate.load_dataset(args.dataset)
        evaluate.check_albums(samples, albums)
    except evaluate.DatasetError as exc:
        raise UsageError(str(exc)) from exc
    if args.volume <= 0:
        raise UsageError("--volume must be more than 0")
    names = list(dict.fromkeys(args.backends or ["local"]))
    options = backend_options(args, rules_param)
    cache = evaluate.Cache(_cache_path(args))
    route = evaluate.router(rules)
    prices, measured, memory = load_prices(), load_measured(), function_memory()

    def cost_of(backend: str) -> float:
        return estimate(args.volume, backend, prices=prices, measured=measured, memory=memory).total

    reports: list[evaluate.BackendReport] = []
    skipped: list[evaluate.Skipped] = []
    opened = []
    for name in names:
        try:
            opened.append(open_backend(name, options))
        except BackendNotReady as exc:
            skipped.append(evaluate.Skipped(name, str(exc)))
    total = len(samples) * len(opened)
    with tqdm(total=total, desc="evaluating", unit="photo", file=sys.stderr, disable=None, leave=False) as bar:
        for backend in opened:
            bar.set_postfix_str(backend.name)
            results: list[evaluate.Result] = []
            try:
                for sample in samples:
                    results.append(evaluate.run_one(backend.classify, backend.fingerprint, sample, cache, route))
                    bar.update(1)
            except evaluate.StopBackend as exc:
                skipped.append(evaluate.Skipped(backend.name, f"stopped after {len(results)} photo(s): {exc}"))
                bar.update(len(samples) - len(results))
                continue
            except OSError as exc:
                raise CliError(f"cannot read {getattr(exc, 'filename', '')}: {exc.strerror or exc}") from exc
            report = evaluate.BackendReport(
                backend=backend.name,
                results=results,
                monthly_cost=cost_of(backend.name),
                per_1000=cost_of(backend.name) / args.volume * 1000,
                albums=albums,
                classified_now=sum(1 for r in results if not r.cached),
                from_cache=sum(1 for r in results if r.cached),
            )
            reports.append(report)
    recommendation = evaluate.recommend(
        reports,
        min_right=args.min_right,
        max_wrong=args.max_wrong,
        volume=args.volume,
        cost_of=cost_of,
        few_shot_available=few_shot_available(),
        skipped=skipped,
    )
    if args.report:
        page = evaluate_report.html_report(
            reports,
            skipped,
            recommendation,
            dataset=args.dataset,
            volume=args.volume,
            targets=(args.min_right, args.max_wrong),
        )
        Path(args.report).write_text(page, encoding="utf-8")
    if args.json:
        doc = {
            "dataset": args.dataset,
            "photos": len(samples),
            "volume": args.volume,
            "targets": {"min_right": args.min_right, "max_wrong": args.max_wrong},
            "backends": [r.as_dict() for r in reports],
            "skipped": [{"backend": s.backend, "reason": s.reason} for s in skipped],
            "recommendation": recommendation.as_dict(),
        }
        print(json.dumps(doc, indent=2))
    else:
        print(f"photosort evaluate: {len(samples)} photos in {args.dataset}, rules {args.rules or 'family'}\n")
        evaluate_report.print_summary(reports, skipped, recommendation, volume=args.volume, out=sys.stdout)
        if args.report:
            print(f"\nReport: {args.report}")
    return 0

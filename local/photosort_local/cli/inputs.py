"""The inputs of the offline commands: which files to upload under which keys, the rules, the output folder."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from photosort import constants
from photosort_local.cli.common import UsageError

OUTPUT_DIRS = frozenset(prefix.rstrip("/") for prefix in constants.OUTPUT_PREFIXES)
STATE_DIR = ".photosort"  # local sort's state (photosort_local.localsort.state)


@dataclass(frozen=True)
class Upload:
    """One input file and the key it is uploaded under."""

    source: str
    path: Path
    key: str


# -- inputs and rules -----------------------------------------------------------------------------------------
def _walk(path: Path, exclude: Path | None) -> Iterator[tuple[Path, str]]:
    """(file, path relative to the argument). Hidden files and the output folder are skipped inside folders."""
    if not path.is_dir():
        yield path, path.name
        return
    for file in sorted(path.rglob("*")):
        relative = file.relative_to(path)
        if any(part.startswith(".") for part in relative.parts) or not file.is_file():
            continue
        if exclude is not None and file.resolve().is_relative_to(exclude):
            continue
        yield file, relative.as_posix()


def _unique_key(relative: str, taken: set[str]) -> str:
    """``incoming/<relative>``, or ``incoming/<n>/<relative>`` when another input already has that key."""
    key = f"{constants.INCOMING_PREFIX}{relative}"
    n = 1
    while key in taken:
        n += 1
        key = f"{constants.INCOMING_PREFIX}{n}/{relative}"
    taken.add(key)
    return key


def find_inputs(paths: Sequence[str], exclude: Path | None = None) -> list[Upload]:
    """Every file named or found under a folder, in argument order; a missing path is a usage error."""
    uploads: list[Upload] = []
    taken: set[str] = set()
    for given in paths:
        path = Path(given)
        if not path.exists():
            raise UsageError(f"{given}: no such file or folder")
        if not (path.is_dir() or path.is_file()):
            raise UsageError(f"{given}: not a regular file or folder")
        found = list(_walk(path, exclude))
        if not found:
            raise UsageError(f"{given}: no files in this folder")
        for file, relative in found:
            source = given if file == path else str(file)
            uploads.append(Upload(source=source, path=file, key=_unique_key(relative, taken)))
    return uploads


def _parse_rules_text(spec: str, text: str) -> Any:
    import yaml

    is_json = spec.lower().endswith(".json")
    try:
        return json.loads(text) if is_json else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise UsageError(f"{spec}: not valid {'JSON' if is_json else 'YAML'}: {exc}") from exc


def load_rules_file(spec: str) -> str:
    """The ``RoutingRules`` parameter for ``--rules``: a preset name, or a YAML/JSON file validated here.

    Validating before the stack starts turns a typo into one clear message instead of every photo failing.
    """
    from photosort.routing import PRESETS, validate_rules

    path = Path(spec)
    if spec in PRESETS and not path.exists():
        return spec
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--rules {spec}: {getattr(exc, 'strerror', None) or exc}") from exc
    ruleset = validate_rules(_parse_rules_text(spec, text), source=spec)
    return json.dumps(ruleset.model_dump(mode="json"), separators=(",", ":"))  # the parameter is one line


def stack_parameters(args: argparse.Namespace) -> dict[str, str]:
    parameters = {"ClassifierBackend": args.backend}
    if args.rules:
        parameters["RoutingRules"] = load_rules_file(args.rules)
    return parameters


def check_out_dir(out: Path, force: bool) -> None:
    """DIR must be missing, empty, or an earlier photosort output, unless ``--force``."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a folder")
    if force or not out.exists():
        return
    foreign = sorted(p.name for p in out.iterdir() if p.name not in OUTPUT_DIRS | {STATE_DIR} or not p.is_dir())
    if foreign:
        raise UsageError(
            f"--out {out} is not empty and does not look like photosort output (found {', '.join(foreign[:3])}); "
            "use an empty folder, or --force to write into it anyway"
        )


def add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        choices=["local"],
        default="local",
        help="classifier; local (the bundled ONNX model) is the one that runs offline",
    )
    parser.add_argument(
        "--rules", metavar="FILE", help="routing rules, a YAML or JSON file (or a preset: family, dealership)"
    )


def add_out_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument(
        "--out",
        metavar="DIR",
        required=required,
        help="write the sorted bucket (albums/, unsorted/, rejected/, ...) here; DIR must be empty, "
        "new, or an earlier photosort output",
    )
    parser.add_argument("--force", action="store_true", help="write into a non-empty DIR anyway")
    parser.add_argument(
        "--picture",
        metavar="FILE.png",
        help="also draw a contact sheet: every photo as a thumbnail under where it went",
    )

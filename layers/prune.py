"""Delete what ``layers/prune.txt`` lists from a layer's ``python/`` dir (run by the layer Makefiles after pip).

    python3 layers/prune.py <layer python dir> [--list FILE] [--quiet]

Standard library only. Prints each removed path with its size, and the total.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_LIST = HERE / "prune.txt"


def patterns(list_file: Path = DEFAULT_LIST) -> list[str]:
    out = []
    for raw in list_file.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            out.append(line)
    return out


def _size(p: Path) -> int:
    if p.is_symlink() or p.is_file():
        return p.lstat().st_size
    return sum(f.lstat().st_size for f in p.rglob("*") if f.is_file() or f.is_symlink())


def prune(root: Path, list_file: Path = DEFAULT_LIST, *, quiet: bool = False) -> int:
    """Remove every match of every pattern under ``root``; returns the bytes removed."""
    root = root.resolve()
    total = 0
    for pattern in patterns(list_file):
        for match in sorted(root.glob(pattern), key=lambda p: len(p.parts)):
            if not (match.exists() or match.is_symlink()):
                continue  # inside a directory removed by an earlier match
            if root not in match.resolve().parents:
                raise SystemExit(f"refusing to delete {match}: outside {root}")
            size = _size(match)
            if match.is_dir() and not match.is_symlink():
                shutil.rmtree(match)
            else:
                match.unlink()
            total += size
            if not quiet:
                print(f"  pruned {match.relative_to(root)} ({size / 1e6:.2f} MB)")
    if not quiet:
        print(f"  pruned {total / 1e6:.2f} MB from {root}")
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--list", type=Path, default=DEFAULT_LIST)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if not args.root.is_dir():
        parser.error(f"{args.root} is not a directory")
    prune(args.root, args.list, quiet=args.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Extract README's shell recipes: ```bash blocks, each right after a ``<!-- recipe: ... -->`` marker.

    <!-- recipe: NAME -->                    run against `photosort local serve`
    <!-- recipe: NAME aws-only: REASON -->   needs an AWS account: listed as skipped with REASON
    <!-- recipe: NAME skip: REASON -->       cannot run in the test (Docker, the suite itself): skipped
    <!-- recipe: NAME prelude -->            run before every recipe (the `aws` wrapper for the local endpoint)

A ```bash block without a marker is an error, so a new recipe is never silently left out.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

MARKER = re.compile(
    r"^\s*<!-- recipe: (?P<name>[a-z0-9][a-z0-9-]*)"
    r"(?: (?P<kind>aws-only|skip): (?P<reason>.+?)| (?P<prelude>prelude))? -->\s*$"
)
FENCE = re.compile(r"^(?P<indent>\s*)```bash\s*$")
ANY_MARKER = re.compile(r"^\s*<!--\s*recipe\b")


class RecipeFormatError(ValueError):
    """A bash block without a marker, a malformed marker, an unclosed block or a name used twice."""


@dataclass(frozen=True)
class Recipe:
    name: str
    kind: str  # run | aws-only | skip | prelude
    reason: str
    code: str
    line: int  # 1-based line of the opening fence in README.md


def extract(text: str) -> list[Recipe]:
    lines = text.splitlines()
    recipes: list[Recipe] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if ANY_MARKER.search(line) and not MARKER.match(line):
            raise RecipeFormatError(f"README.md:{i + 1}: malformed recipe marker: {line.strip()}")
        fence = FENCE.match(line)
        if not fence:
            i += 1
            continue
        before = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        marker = MARKER.match(before)
        if marker is None:
            raise RecipeFormatError(
                f"README.md:{i + 1}: a ```bash block without a recipe marker on the line before "
                "(<!-- recipe: NAME -->, or NAME aws-only: REASON / skip: REASON / prelude)"
            )
        opened = i + 1
        body: list[str] = []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i])
            i += 1
        if i == len(lines):
            raise RecipeFormatError(f"README.md: the recipe {marker['name']} is never closed")
        kind = marker["kind"] or ("prelude" if marker["prelude"] else "run")
        code = textwrap.dedent("\n".join(body)) + "\n"
        recipes.append(Recipe(marker["name"], kind, marker["reason"] or "", code, opened))
        i += 1
    names = [r.name for r in recipes]
    doubled = sorted({n for n in names if names.count(n) > 1})
    if doubled:
        raise RecipeFormatError(f"README.md: recipe names used twice: {doubled}")
    return recipes


def load(readme: Path) -> list[Recipe]:
    return extract(readme.read_text(encoding="utf-8"))

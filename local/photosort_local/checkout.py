"""The repository files the local tools read: template.yaml, statemachine/, functions/, events/, bench/results/.

The embedded stack deploys the real template with the real handlers, so it needs the source checkout, not only
the installed packages. ``pip install -e '.[local]'`` from a clone (what ``make install`` does) provides it; a
plain ``pip install .`` ships the Python packages only, and anything that needs the checkout then fails with
:class:`CheckoutError` saying so, instead of a bare FileNotFoundError.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = REPO_ROOT / "template.yaml"
EVENTS = REPO_ROOT / "events"


class CheckoutError(RuntimeError):
    """A file from the source checkout is missing: photosort_local was installed without the repository."""


def require(path: Path) -> Path:
    """``path`` if it exists, else CheckoutError naming it and how to install photosort so that it does."""
    if not path.exists():
        raise CheckoutError(
            f"{path} not found: the embedded stack, `photosort demo`, `local sort|serve` and `cost` read "
            "template.yaml, statemachine/, functions/ and events/ from photosort's source checkout. Install from "
            "a clone with `pip install -e '.[local]'` (or `make install`); `pip install .` ships the Python "
            "packages only."
        )
    return path

"""Every error name the state machine's Retry and Catch match is an exception class in photosort.errors.

Lambda reports an unhandled exception under its class name, so a misspelt or renamed error in the ASL would
silently stop matching: the photo would take the wrong path (no retry, or quarantine instead of rejection).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from photosort import errors

REPO = Path(__file__).resolve().parents[2]
ASL = REPO / "statemachine" / "sort_photo.asl.json"
BUILT_IN = ("States.", "Lambda.")


def error_names(states: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(state, error name) for every ErrorEquals entry, nested Map/Parallel states included."""
    for name, state in states.items():
        for block in (*state.get("Retry", []), *state.get("Catch", [])):
            for error in block["ErrorEquals"]:
                yield name, error
        for branch in state.get("Branches", []):
            yield from error_names(branch["States"])
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                yield from error_names(state[key]["States"])


def test_every_custom_error_in_the_asl_is_a_photosort_error() -> None:
    defined = {
        name
        for name, value in vars(errors).items()
        if inspect.isclass(value) and issubclass(value, errors.PhotosortError)
    }
    used = list(error_names(json.loads(ASL.read_text(encoding="utf-8"))["States"]))
    custom = [(state, error) for state, error in used if not error.startswith(BUILT_IN)]

    assert custom, "the ASL matches no photosort error at all"
    assert [f"{state}: {error}" for state, error in custom if error not in defined] == []

"""The run-time pins in pyproject.toml are the Lambda layers' pins (layers/*/requirements.txt), both ways."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]


def pins(requirements: list[str]) -> dict[str, str]:
    """{normalised name: specifier} of the requirements pinned with ``==`` (extras do not matter here)."""
    out: dict[str, str] = {}
    for line in requirements:
        requirement = Requirement(line)
        if any(spec.operator == "==" for spec in requirement.specifier):
            out[canonicalize_name(requirement.name)] = str(requirement.specifier)
    return out


def layer_requirements() -> dict[str, list[str]]:
    found = {}
    for path in sorted(REPO.glob("layers/*/requirements.txt")):
        lines = [line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines()]
        found[path.parent.name] = [line for line in lines if line]
    return found


def test_every_layer_pin_is_the_projects_run_time_pin() -> None:
    project = pins(tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"])
    layers = layer_requirements()
    assert set(layers) == {"core", "imaging", "model"}

    for layer, requirements in layers.items():
        for name, pin in pins(requirements).items():
            assert project.get(name) == pin, (
                f"layers/{layer}/requirements.txt pins {name}{pin}, pyproject {project.get(name)}"
            )


def test_every_run_time_pin_ships_in_a_layer() -> None:
    project = pins(tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"])
    shipped = {name: pin for requirements in layer_requirements().values() for name, pin in pins(requirements).items()}

    assert project == shipped

"""Real sample photos that ship inside installed packages (nothing is downloaded)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

# name -> (package, path inside the package). Standard library only: the model tools import this too.
SAMPLES: dict[str, tuple[str, str]] = {
    "chelsea": ("skimage", "data/chelsea.png"),
    "coffee": ("skimage", "data/coffee.png"),
    "rocket": ("skimage", "data/rocket.jpg"),
    "motorcycle_left": ("skimage", "data/motorcycle_left.png"),
    "astronaut": ("skimage", "data/astronaut.png"),
    "china": ("sklearn", "datasets/images/china.jpg"),
    "flower": ("sklearn", "datasets/images/flower.jpg"),
    "grace_hopper": ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
}


class SampleNotFoundError(FileNotFoundError):
    """The package that ships a sample photo is not installed."""


def find_sample(name: str) -> Path:
    package, inner = SAMPLES[name]
    return package_file(package, inner)


def package_file(package: str, inner: str) -> Path:
    """A file that an installed package ships, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SampleNotFoundError(f"{inner} ships with {package}, which is not installed (make install)")
    path = Path(next(iter(spec.submodule_search_locations))) / inner
    if not path.is_file():
        raise SampleNotFoundError(f"{path} is missing from the installed {package}")
    return path

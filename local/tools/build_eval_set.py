"""Write a labelled folder for ``photosort evaluate`` from the real photos that installed wheels ship.

    .venv/bin/python local/tools/build_eval_set.py eval-set/ [--variants 5]

Every photo comes from an installed package (scikit-image, scikit-learn, matplotlib; nothing is
downloaded), filed under the album a person would choose for it with the family preset, or under
``unsorted/`` (documents, textures, space and microscope images: they belong in no family album). Each
photo is also written as ``--variants - 1`` deterministic variants (mirror, crop, small rotation,
half-size JPEG re-encode), as a phone library holds several shots of one scene. Variants of one photo are
not independent samples: the set measures how a backend handles these scenes, not a population of photos.
``DIR/SOURCES.md`` lists each file's package, path and version.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

from photosort_local import samples

# album -> [(package, path inside the package)]
LAYOUT: dict[str, list[tuple[str, str]]] = {
    "pets": [("skimage", "data/chelsea.png")],
    "food": [("skimage", "data/coffee.png")],
    "people": [
        ("skimage", "data/astronaut.png"),
        ("skimage", "data/camera.png"),
        ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
    ],
    "vehicles": [
        ("skimage", "data/motorcycle_left.png"),
        ("skimage", "data/motorcycle_right.png"),
        ("skimage", "data/rocket.jpg"),
    ],
    "buildings": [("sklearn", "datasets/images/china.jpg")],
    "nature": [("sklearn", "datasets/images/flower.jpg")],
    "unsorted": [
        ("skimage", "data/page.png"),
        ("skimage", "data/text.png"),
        ("skimage", "data/coins.png"),
        ("skimage", "data/moon.png"),
        ("skimage", "data/hubble_deep_field.jpg"),
        ("skimage", "data/brick.png"),
        ("skimage", "data/gravel.png"),
        ("skimage", "data/ihc.png"),
        ("skimage", "data/retina.jpg"),
    ],
}


def package_file(package: str, inner: str) -> Path:
    try:
        return samples.package_file(package, inner)
    except samples.SampleNotFoundError as exc:
        raise SystemExit(str(exc)) from exc


def variants(path: Path, count: int) -> list[tuple[str, bytes]]:
    """(suffix, encoded bytes): the original file first, then deterministic variants."""
    from PIL import Image, ImageOps

    out = [("", path.read_bytes())]
    with Image.open(path) as opened:
        img = opened.convert("RGB")
    w, h = img.size
    makers: list[tuple[str, Callable[[], Image.Image]]] = [
        ("-mirror", lambda: ImageOps.mirror(img)),
        ("-crop", lambda: img.crop((w // 10, h // 10, w - w // 10, h - h // 10))),
        (
            "-tilt",
            lambda: img.rotate(7, resample=Image.Resampling.BICUBIC, expand=False).crop(
                (w // 12, h // 12, w - w // 12, h - h // 12)
            ),
        ),
        ("-small", lambda: img.resize((max(1, w // 2), max(1, h // 2)), Image.Resampling.LANCZOS)),
    ]
    for suffix, make in makers[: max(0, count - 1)]:
        buffer = BytesIO()
        make().save(buffer, format="JPEG", quality=80)
        out.append((suffix, buffer.getvalue()))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--variants", type=int, default=5, help="files per photo, the original included (1-5)")
    args = parser.parse_args(argv)
    lines = ["# Sources", "", "| file | package | version | path in the package |", "|---|---|---|---|"]
    written = 0
    for album, items in LAYOUT.items():
        for package, inner in items:
            source = package_file(package, inner)
            for suffix, data in variants(source, args.variants):
                ext = source.suffix if not suffix else ".jpg"
                target = args.out / album / f"{source.stem}{suffix}{ext}"
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
                version = importlib.metadata.version(
                    "scikit-image" if package == "skimage" else package.replace("sklearn", "scikit-learn")
                )
                lines.append(
                    f"| {album}/{target.name} | {package} | {version} | {inner}{' (variant)' if suffix else ''} |"
                )
                written += 1
    (args.out / "SOURCES.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {written} photos in {len(LAYOUT)} albums to {args.out}/ (sources: {args.out}/SOURCES.md)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

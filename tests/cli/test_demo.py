"""``photosort demo``: the bundled sample photos through the whole offline pipeline."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from photosort_local.samples import SAMPLES


def test_demo_sorts_samples_into_albums(cli, tmp_path: Path) -> None:
    out = tmp_path / "sorted"
    run = cli("demo", "--json", "--out", str(out))
    assert run.code == 0, run.err
    result = json.loads(run.out)

    photos = result["photos"]
    assert len(photos) == len(SAMPLES)
    assert result["incoming"] == []  # every upload left incoming/
    by_source = {p["source"]: p for p in photos}
    assert by_source["chelsea.png"]["status"] == "sorted"
    assert by_source["chelsea.png"]["destination"].startswith("albums/pets/")
    assert by_source["chelsea.png"]["labels"][0]["confidence"] >= by_source["chelsea.png"]["labels"][1]["confidence"]
    for person in ("astronaut.png", "grace_hopper.jpg"):  # found by the face detector, offline
        assert by_source[person]["destination"].startswith("albums/people/"), by_source[person]

    # the album counters in the table agree with the memberships of the photos
    counts = {a["album"]: a["image_count"] for a in result["albums"]}
    assert {"pets", "food", "vehicles"} <= set(counts)
    assert counts == dict(Counter(album for p in photos for album in p["albums"]))

    written = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert written == {p["destination"] for p in photos}


def test_demo_human_output(cli) -> None:
    run = cli("demo")
    assert run.code == 0, run.err
    assert "chelsea.png" in run.out and "albums/pets/" in run.out
    assert "nothing left under incoming/" in run.out
    assert "Tried to parse" not in run.err and "No Moto" not in run.err

"""``photosort local sort``: the user's own files and folders through the offline pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from photosort_local.samples import find_sample


@pytest.fixture
def mixed_folder(tmp_path: Path, copy_sample) -> Path:
    """Good photos (one in a subfolder), a text file named .jpg, an empty file and a truncated JPEG."""
    root = tmp_path / "photos"
    copy_sample("chelsea", root / "chelsea.png")
    copy_sample("coffee", root / "kitchen" / "coffee.png")
    copy_sample("flower", root / "flower.jpg")
    (root / "notes.jpg").write_text("shopping list: milk, eggs\n")
    (root / "empty.jpg").write_bytes(b"")
    (root / "truncated.jpg").write_bytes(find_sample("rocket").read_bytes()[:20_000])
    (root / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")  # hidden files inside folders are skipped
    return root


def test_sorts_every_input_in_order(cli, mixed_folder: Path, tmp_path: Path, copy_sample) -> None:
    # a second flower.jpg (different bytes) from elsewhere must not collide with the folder's flower.jpg
    other = copy_sample("grace_hopper", tmp_path / "elsewhere" / "flower.jpg")
    out = tmp_path / "out"
    run = cli("local", "sort", str(mixed_folder), str(other), "--out", str(out), "--json", "--jobs", "2")
    assert run.code == 0, run.err
    results = [json.loads(line) for line in run.out.splitlines()]

    expected_sources = [
        str(mixed_folder / name)
        for name in ("chelsea.png", "empty.jpg", "flower.jpg", "kitchen/coffee.png", "notes.jpg", "truncated.jpg")
    ] + [str(other)]
    assert [r["source"] for r in results] == expected_sources
    by_name = {Path(r["source"]).name + ("@other" if r["source"] == str(other) else ""): r for r in results}

    rejected = {"empty.jpg": "EmptyObject", "notes.jpg": "NotAnImage", "truncated.jpg": "TruncatedImage"}
    for name, reason in rejected.items():
        assert by_name[name]["status"] == "rejected"
        assert by_name[name]["reason"].startswith(reason)
        assert by_name[name]["destination"].startswith("rejected/")
    for name in ("chelsea.png", "coffee.png", "flower.jpg", "flower.jpg@other"):
        assert by_name[name]["status"] in ("sorted", "unsorted"), by_name[name]
        assert by_name[name]["labels"], by_name[name]
    assert by_name["chelsea.png"]["destination"].startswith("albums/pets/")
    assert by_name["flower.jpg"]["key"] == "incoming/flower.jpg"
    assert by_name["flower.jpg@other"]["key"] == "incoming/2/flower.jpg"
    assert all({"source", "status", "destination", "labels", "reason"} <= r.keys() for r in results)

    written = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert written == {r["destination"] for r in results} | {".photosort/state.sqlite"}


def test_rules_file_human_output_and_foreign_out_dir(cli, tmp_path: Path, copy_sample) -> None:
    photo = copy_sample("coffee", tmp_path / "in" / "coffee.png")
    out = tmp_path / "out"
    (out / "albums").mkdir(parents=True)  # an earlier photosort output is fine to write into
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - album: drinks\n    labels: [Coffee]\n")
    run = cli("local", "sort", str(photo), "--out", str(out), "--rules", str(rules), "--jobs", "1")
    assert run.code == 0, run.err
    assert "albums/drinks/" in run.out and "1 sorted" in run.out
    assert next(out.glob("albums/drinks/*/coffee-*.png"))

    (out / "mine.txt").write_text("not photosort's")
    refused = cli("local", "sort", str(photo), "--out", str(out), "--jobs", "1")
    assert refused.code == 2
    assert "--force" in refused.err and "mine.txt" in refused.err


def test_unreadable_file_is_reported_failed(cli, tmp_path: Path, copy_sample, monkeypatch) -> None:
    locked = copy_sample("coffee", tmp_path / "in" / "locked.png")
    real_open = Path.open

    def deny(self: Path, *args, **kwargs):  # chmod 0 does not stop root, so refuse the read here
        if self == locked:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", deny)
    run = cli("local", "sort", str(locked), "--out", str(tmp_path / "out"), "--json", "--jobs", "1")
    assert run.code == 0
    result = json.loads(run.out)
    assert result["status"] == "failed" and "could not read" in result["reason"]

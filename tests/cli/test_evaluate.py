"""``photosort evaluate`` on the bundled sample photos with the local backend, plus its scoring, cache,
skipped backends, recommendation and report."""

from __future__ import annotations

import base64
import json
import re
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from photosort.backends.local import classify_bytes
from photosort.routing import load_rules, match
from photosort_local import evaluate
from photosort_local.cost import model as cost
from photosort_local.evaluate import BackendReport, Result, Sample

# The bundled samples, filed by what they show (a person would file them so).
LAYOUT = {
    "pets": ["chelsea"],
    "food": ["coffee"],
    "vehicles": ["motorcycle_left", "rocket"],
    "people": ["astronaut", "grace_hopper"],
    "buildings": ["china"],
    "nature": ["flower"],
}


@pytest.fixture
def dataset(tmp_path: Path, copy_sample: Any) -> Path:
    from photosort_local.samples import find_sample

    root = tmp_path / "labelled"
    for album, names in LAYOUT.items():
        for name in names:
            copy_sample(name, root / album / find_sample(name).name)
    return root


def _pipeline_album(path: Path) -> str:
    """Where the Record step would put this photo: the pipeline's own classify + match, computed here."""
    memberships = match(load_rules("family"), classify_bytes(path.read_bytes()).labels)
    return memberships[0].album if memberships else "unsorted"


def _json(cli: Any, *args: str) -> dict[str, Any]:
    run = cli("evaluate", *args, "--json")
    assert run.code == 0, run.err
    return json.loads(run.out)


def test_scores_agree_with_the_pipeline_and_add_up(cli: Any, dataset: Path) -> None:
    doc = _json(cli, str(dataset), "--volume", "50000")
    (local,) = doc["backends"]
    assert doc["photos"] == local["photos"] == local["scored"] == 8
    photos = [p for p in dataset.rglob("*") if p.is_file() and not p.name.startswith(".")]
    expected = {p.relative_to(dataset).as_posix(): p.parent.name for p in photos}
    predicted = {p.relative_to(dataset).as_posix(): _pipeline_album(p) for p in photos}
    right = sum(predicted[k] == expected[k] for k in expected)
    unsorted = sum(predicted[k] == "unsorted" for k in expected)
    assert local["rates"]["right"] == pytest.approx(right / 8)
    assert local["rates"]["unsorted"] == pytest.approx(unsorted / 8)
    assert local["rates"]["wrong"] == pytest.approx((8 - right - unsorted) / 8)
    assert sum(local["rates"].values()) == pytest.approx(1.0)
    assert predicted["pets/chelsea.png"] == "pets"  # as the demo shows
    for album in local["albums"]:
        exp = sum(1 for k in expected if expected[k] == album["album"])
        got = sum(1 for k in expected if predicted[k] == album["album"])
        hit = sum(1 for k in expected if predicted[k] == album["album"] == expected[k])
        assert (album["expected"], album["predicted"], album["correct"]) == (exp, got, hit)
        assert album["precision"] == (hit / got if got else None) and album["recall"] == (hit / exp if exp else None)
    lat = local["latency_ms"]
    assert lat["n"] == 8 and 0 < lat["p50"] <= lat["p95"]
    assert local["monthly_cost"] == pytest.approx(cost.estimate(50_000, "local").total)


def test_the_cache_only_classifies_new_photos(cli: Any, dataset: Path, copy_sample: Any) -> None:
    first = _json(cli, str(dataset))["backends"][0]
    assert (first["classified_now"], first["from_cache"]) == (8, 0)
    copy_sample("coffee", dataset / "food" / "more coffee.png")
    Image.open(dataset / "food" / "more coffee.png").rotate(90).save(dataset / "food" / "more coffee.png")
    second = _json(cli, str(dataset))["backends"][0]
    assert (second["classified_now"], second["from_cache"]) == (1, 8)
    assert second["latency_ms"]["n"] == 9  # cached photos keep their measured latency
    no_cache = _json(cli, str(dataset), "--no-cache")["backends"][0]
    assert no_cache["classified_now"] == 9


def test_any_folder_is_classified_but_not_scored(cli: Any, dataset: Path, copy_sample: Any) -> None:
    copy_sample("coffee", dataset / "_any" / "whatever.png")
    local = _json(cli, str(dataset))["backends"][0]
    assert (local["photos"], local["scored"]) == (9, 8)


def test_backends_that_cannot_run_are_skipped_with_the_reason(
    cli: Any, dataset: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    from photosort_local import file_backends

    file_backends._sessions.clear()
    doc = _json(
        cli,
        str(dataset),
        "--backend",
        "local",
        "--backend",
        "bedrock",
        "--backend",
        "custom-labels",
        "--min-right",
        "100",
    )
    assert [b["backend"] for b in doc["backends"]] == ["local"]
    reasons = {s["backend"]: s["reason"] for s in doc["skipped"]}
    assert "aws configure" in reasons["bedrock"] and "--project-version-arn" in reasons["custom-labels"]
    first = doc["recommendation"]["next"][0]  # the guide: try the pre-trained service before training a model
    assert first["name"] == "measure bedrock first" and first["monthly_cost"] == pytest.approx(
        cost.estimate(10_000, "bedrock").total
    )


def test_recommendation_follows_the_target(cli: Any, dataset: Path) -> None:
    easy = _json(cli, str(dataset), "--min-right", "0", "--max-wrong", "100")["recommendation"]
    assert easy["backend"] == "local" and easy["next"] == []
    hard = _json(cli, str(dataset), "--min-right", "100", "--max-wrong", "0", "--volume", "200000")["recommendation"]
    assert hard["backend"] is None and "No backend measured here meets your target" in hard["text"]
    costs = {o["name"]: o["monthly_cost"] for o in hard["next"]}
    assert costs["Rekognition Custom Labels"] == pytest.approx(cost.estimate(200_000, "custom-labels").total)
    assert costs["a SageMaker endpoint"] == pytest.approx(cost.estimate(200_000, "sagemaker").total)
    assert "few-shot labels from a folder" in costs


def test_summary_and_html_report_with_a_confusion_matrix(cli: Any, dataset: Path, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    run = cli("evaluate", str(dataset), "--report", str(page))
    assert run.code == 0, run.err
    assert "local" in run.out and "Recommendation:" in run.out and "precision" in run.out
    text = page.read_text(encoding="utf-8")
    assert "<h1>photosort evaluate" in text and "Recommendation." in text
    (png,) = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", text)
    with Image.open(BytesIO(base64.b64decode(png))) as img:
        assert img.format == "PNG" and img.size[0] > 200


def test_a_csv_of_files_and_albums(cli: Any, dataset: Path, tmp_path: Path) -> None:
    listing = tmp_path / "set.csv"
    listing.write_text(f"file,album\n{dataset}/pets/chelsea.png,pets\n{dataset}/food/coffee.png,_any\n")
    local = _json(cli, str(listing))["backends"][0]
    assert (local["photos"], local["scored"]) == (2, 1)


@pytest.mark.parametrize(
    ("layout", "message"),
    [({"petz": ["chelsea"]}, "petz are not in the rules"), ({"": ["chelsea"]}, "one sub-folder per expected album")],
)
def test_a_bad_dataset_is_a_usage_error(
    cli: Any, tmp_path: Path, copy_sample: Any, layout: dict[str, list[str]], message: str
) -> None:
    for folder, names in layout.items():
        for name in names:
            copy_sample(name, tmp_path / "set" / folder / f"{name}.png")
    run = cli("evaluate", str(tmp_path / "set"))
    assert run.code == 2 and message in run.err


# -- the scoring and the recommendation on constructed results --------------------------------------------------
def _report(backend: str, outcomes: list[tuple[str, str]], monthly: float) -> BackendReport:
    results = [
        Result(Sample(Path(f"/x/{i}"), f"{i}", expected), (), predicted, 10.0 * (i + 1))
        for i, (expected, predicted) in enumerate(outcomes)
    ]
    return BackendReport(backend, results, monthly, monthly / 10, ["pets", "food"])


def test_outcomes_precision_recall_and_confusion() -> None:
    r = _report(
        "x", [("pets", "pets"), ("pets", "food"), ("food", "unsorted"), ("unsorted", "unsorted"), ("food", "failed")], 1
    )
    assert [BackendReport.outcome(x) for x in r.results] == ["right", "wrong", "unsorted", "right", "failed"]
    pets, food, unsorted = r.album_scores()
    assert (pets.precision, pets.recall) == (1.0, 0.5)
    assert (food.precision, food.recall) == (0.0, 0.0)
    assert (unsorted.precision, unsorted.recall) == (0.5, 1.0)
    rows, cols, matrix = r.confusion()
    assert rows == ["pets", "food", "unsorted"] and cols == ["pets", "food", "unsorted", "failed"]
    assert matrix == [[1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 1, 0]]
    assert evaluate.percentile(r.latencies(), 50) == 30.0 and evaluate.percentile(r.latencies(), 95) == 48.0


def test_the_cheapest_backend_meeting_the_target_is_chosen() -> None:
    good = [("pets", "pets")] * 19 + [("pets", "unsorted")]  # 95 % right, 0 % wrong
    reports = [
        _report("rekognition", good, 10.0),
        _report("bedrock", good, 1.5),
        _report("local", [("pets", "food")] * 20, 0.4),
    ]
    rec = evaluate.recommend(
        reports, min_right=0.9, max_wrong=0.02, volume=1000, cost_of=lambda b: 0.0, few_shot_available=True
    )
    assert rec.chosen == "bedrock" and "also meeting it: rekognition" in rec.text
    none = evaluate.recommend(
        reports[2:], min_right=0.9, max_wrong=0.02, volume=1000, cost_of=lambda b: 7.0, few_shot_available=True
    )
    assert none.chosen is None and none.options[0].name == "few-shot labels from a folder"
    assert none.options[0].monthly_cost == 7.0 and "photosort labels train" in none.options[0].how

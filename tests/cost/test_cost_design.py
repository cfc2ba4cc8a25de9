"""The cost model follows the template's observability and index design (so the README Cost table stays honest)."""

from __future__ import annotations

import json

import pytest

from photosort_local.cost import compare, model


def _items(est: model.Estimate) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in est.items:
        out[item.service] = out.get(item.service, 0.0) + item.cost
    return out


@pytest.fixture(scope="module")
def million() -> dict[str, float]:
    return _items(model.estimate(1_000_000, "local"))


def test_xray_follows_the_sampling_rule(million: dict[str, float]) -> None:
    reservoir, rate, _ = model.sampling()
    assert (reservoir, rate) == (0.0, 0.01)
    assert million["X-Ray"] == pytest.approx(1_000_000 * 0.01 / 1e6 * 5.0)


def test_gsi_entries_are_small(million: dict[str, float]) -> None:
    assert model.gsi_item_kb() == {"GSI1": 1, "GSI2": 1}  # INCLUDE projections, not ALL


def test_logs_are_the_metrics_and_a_sample(million: dict[str, float]) -> None:
    assert million["CloudWatch Logs"] < 0.25
    _, _, sample = model.sampling()
    assert sample == 0.01


def test_before_and_after_are_printed() -> None:
    before = json.loads(compare.BEFORE.read_text(encoding="utf-8"))
    text = compare.table(before, model.estimate(1_000_000, "local"))
    assert "41.07" in text and "pipeline only" in text

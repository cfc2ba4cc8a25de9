"""photosort cost: itemisation, Rekognition tiers, break-even, --json, --plot, memory table. No bench results needed."""

from __future__ import annotations

import json
import math

import pytest

from photosort_local.cli import main
from photosort_local.cost import model as cost
from photosort_local.cost.prices import load_prices

PRICES = load_prices()
TIERS = PRICES["rekognition"]["detect_labels_tiers"]["tiers"]
MEASURED = cost.Measured()  # documented defaults: never read bench/results
KW = {"prices": PRICES, "measured": MEASURED}


@pytest.mark.parametrize("backend", cost.BACKENDS)
@pytest.mark.parametrize("images", [1_000, 1_000_000, 50_000_000])
def test_items_add_up(backend: str, images: int) -> None:
    est = cost.estimate(images, backend, **KW)
    assert est.total == pytest.approx(sum(i.cost for i in est.items))
    for item in est.items:
        assert item.cost == pytest.approx(item.quantity * item.unit_price)
        assert item.cost >= 0
    assert est.fixed == pytest.approx(sum(i.cost for i in est.items if i.fixed))


def test_rekognition_tiers_hand_computed() -> None:
    t1, t2, t3, t4 = (t["price"] for t in TIERS)
    assert cost.rekognition_tiered(0, TIERS) == 0
    assert cost.rekognition_tiered(500_000, TIERS) == pytest.approx(500_000 * t1)
    assert cost.rekognition_tiered(1_000_000, TIERS) == pytest.approx(1_000_000 * t1)
    assert cost.rekognition_tiered(1_000_001, TIERS) == pytest.approx(1_000_000 * t1 + 1 * t2)
    assert cost.rekognition_tiered(5_000_000, TIERS) == pytest.approx(1_000_000 * t1 + 4_000_000 * t2)
    assert cost.rekognition_tiered(10_000_000, TIERS) == pytest.approx(1e6 * t1 + 4e6 * t2 + 5e6 * t3)
    assert cost.rekognition_tiered(40_000_000, TIERS) == pytest.approx(1e6 * t1 + 4e6 * t2 + 30e6 * t3 + 5e6 * t4)
    # with the table's values: $1,000 + $3,200 + $18,000 + $1,250
    assert cost.rekognition_tiered(40_000_000, TIERS) == pytest.approx(1000 + 3200 + 18000 + 1250)


def test_rekognition_item_uses_tiers() -> None:
    est = cost.estimate(10_000_000, "rekognition", **KW)
    (item,) = [i for i in est.items if i.service == "Rekognition"]
    assert item.cost == pytest.approx(cost.rekognition_tiered(10_000_000, TIERS))


@pytest.mark.parametrize("backend", ["custom-labels", "sagemaker"])
def test_break_even_is_where_curves_cross(backend: str) -> None:
    def total(b: str, v: float) -> float:
        return cost.estimate(v, b, **KW).total

    be = cost.break_even_vs_rekognition(backend, **KW)
    assert be is not None and 1_000 < be < 100_000_000
    assert total(backend, be) == pytest.approx(total("rekognition", be), rel=1e-6)
    assert total(backend, be * 0.9) > total("rekognition", be * 0.9)  # below: the fixed cost dominates
    assert total(backend, be * 1.1) < total("rekognition", be * 1.1)  # above: the fixed backend is cheaper


def test_break_even_none_when_curves_never_cross() -> None:
    assert cost.break_even(lambda v: v + 10, lambda v: v) is None
    assert cost.break_even_vs_rekognition("local", **KW) is None


def test_template_memory() -> None:
    mem = cost.function_memory()
    assert set(cost.FUNCTIONS) <= set(mem)
    assert all(m >= 128 for m in mem.values())


def _cli(*argv: str) -> None:
    assert main(["cost", *argv]) == 0


def test_json_output_shape(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cost, "load_measured", lambda *a, **k: MEASURED)
    _cli("--images", "1000000", "--backend", "all", "--json")
    doc = json.loads(capsys.readouterr().out)
    assert doc["images"] == 1_000_000
    assert set(doc["backends"]) == set(cost.BACKENDS)
    for b in doc["backends"].values():
        assert {"total", "items", "fixed_monthly", "break_even_vs_rekognition", "per_1000_images"} <= set(b)
        assert b["total"] == pytest.approx(sum(i["cost"] for i in b["items"]))
        assert all({"service", "item", "quantity", "unit", "unit_price", "cost"} <= set(i) for i in b["items"])
    assert doc["backends"]["sagemaker"]["break_even_vs_rekognition"] > 0
    assert doc["backends"]["local"]["break_even_vs_rekognition"] is None


def test_plot_is_png(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(cost, "load_measured", lambda *a, **k: MEASURED)
    out = tmp_path / "cost.png"
    _cli("--images", "1000", "--backend", "local", "--plot", str(out))
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    from PIL import Image

    with Image.open(out) as img:
        img.verify()


def test_memory_table_monotonic() -> None:
    rows = cost.memory_table((256, 512, 1024, 1769, 2048, 3008), prices=PRICES, measured=MEASURED)
    durations = [r["duration_ms"] for r in rows]
    costs = [r["cost_per_million"] for r in rows]
    assert durations == sorted(durations, reverse=True)  # more memory, more CPU: never slower
    assert costs == sorted(costs)  # below 1 vCPU the CPU work costs the same, the waiting grows with memory
    best = cost.recommended_memory(rows)
    assert best is not None and best["acceptable"]


def test_standard_state_machine_priced_per_transition() -> None:
    est = cost.estimate(1_000_000, "local", state_machine="STANDARD", **KW)
    (item,) = [i for i in est.items if i.service == "Step Functions"]
    assert item.cost == pytest.approx(1_000_000 * cost.STANDARD_TRANSITIONS / 1000 * 0.025)
    assert math.isfinite(est.total)

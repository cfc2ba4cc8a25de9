"""The cost model follows the template's observability and index design (so the README Cost table stays honest)."""

from __future__ import annotations

import pytest

from photosort_local.cost import model


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


def test_the_table_has_no_gsi_and_no_write_is_a_transaction(million: dict[str, float]) -> None:
    assert model.gsi_item_kb() == {}  # each GSI would cost a write unit per photo
    req = model.sorted_photo_requests()
    assert "TransactWriteItems" not in req.dynamodb and req.wru == 3  # claim, record, one album member
    assert million["DynamoDB"] == pytest.approx(3 * 0.625)


def test_near_duplicates_are_off_by_default_and_priced_when_on() -> None:
    assert model.near_duplicates_default() == "off"
    off = _items(model.estimate(1_000_000, "local"))
    on = model.estimate(1_000_000, "local", near_duplicates="record")
    near = [i for i in on.items if "near-duplicate" in i.item]
    assert len(near) == 2 and all("opt-in" in i.item for i in near)
    assert _items(on)["DynamoDB"] == pytest.approx(off["DynamoDB"] + sum(i.cost for i in near))


def test_the_settings_default_for_near_duplicates_is_the_templates() -> None:
    from photosort.settings import Settings

    assert Settings.model_fields["near_duplicates"].default.value == model.near_duplicates_default() == "off"

"""The backfill cost and duration model (local/photosort_local/cost/backfill.py) and the template's concurrency."""

from __future__ import annotations

import pytest

from photosort_local.cost import backfill as cost
from photosort_local.sam import load_sam_template
from tests.support.tables import TEMPLATE


def test_default_concurrency_is_the_templates_mapping() -> None:
    mapping = load_sam_template(TEMPLATE)["Mappings"]["BackfillConcurrency"]
    assert {k: int(v["Value"]) for k, v in mapping.items()} == cost.DEFAULT_CONCURRENCY


def test_a_reroute_that_moves_nothing_costs_less_than_one_that_moves_everything() -> None:
    still = cost.estimate("reroute", 1_000_000, 0)
    moving = cost.estimate("reroute", 1_000_000)
    assert still.total < moving.total / 2
    assert still.seconds_per_item < moving.seconds_per_item


def test_ingest_with_rekognition_pays_for_detect_labels_and_lasts_n_t_over_c() -> None:
    est = cost.estimate("ingest", 1_000_000, backend="rekognition", max_concurrency=12)
    assert any(i.service == "Rekognition" for i in est.items)
    assert est.duration_s == pytest.approx(1_000_000 * est.seconds_per_item / 12)
    local = cost.estimate("ingest", 1_000_000, backend="local", max_concurrency=12)
    assert not any(i.service == "Rekognition" for i in local.items)
    assert est.total > local.total


def test_a_fixed_endpoint_counts_only_the_runs_hours() -> None:
    est = cost.estimate("reclassify", 1000, backend="sagemaker", max_concurrency=4)
    endpoint = [i for i in est.items if i.service == "SageMaker"]
    assert len(endpoint) == 1 and endpoint[0].quantity < 1.0  # instance-hours of a short run, not a month


def test_the_readme_table_rows() -> None:
    rows = cost.table()
    assert len(rows) == len(cost.DEFAULT_CONCURRENCY) * len(cost.MODES)
    assert all(r["max_concurrency"] == cost.REROUTE_CONCURRENCY for r in rows if r["mode"] == "reroute")


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="mode"):
        cost.estimate("shuffle", 10)


def test_a_manifest_replaces_the_listing_with_the_inventory_and_its_files() -> None:
    listing = cost.estimate("ingest", 2_500_000)
    manifest = cost.estimate("ingest", 2_500_000, source="manifest")
    lines = {i.item: i for i in manifest.items}
    assert not any(i.item.startswith("ListObjectsV2") for i in manifest.items)
    assert any(i.item.startswith("ListObjectsV2") for i in listing.items)
    inventory = lines["Inventory (the objects its report lists)"]
    assert inventory.quantity == pytest.approx(2.5) and inventory.cost == pytest.approx(2.5 * 0.0025)
    gets = lines["GET (the ItemReader: manifest.json and its gzip CSV files)"]
    assert gets.quantity == pytest.approx((1 + 3) / 1000)  # the manifest and 3 files of up to 1M rows
    # the per-item work (and so the duration) does not depend on where the items came from
    assert manifest.duration_s == listing.duration_s
    with pytest.raises(ValueError, match="item source"):
        cost.estimate("ingest", 10, source="athena")

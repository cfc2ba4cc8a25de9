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

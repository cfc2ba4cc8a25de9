"""The backfill machine's two Distributed Maps (a listing, an S3 Inventory manifest) must not drift apart."""

from __future__ import annotations

import json
from pathlib import Path

ASL = json.loads((Path(__file__).resolve().parents[2] / "statemachine" / "backfill.asl.json").read_text("utf-8"))
STATES = ASL["States"]


def test_both_maps_batch_process_tolerate_and_report_the_same_way() -> None:
    listing, inventory = STATES["Each"], STATES["EachInventoryRow"]
    for field in (
        "ItemBatcher",
        "ItemProcessor",
        "MaxConcurrencyPath",
        "ToleratedFailurePercentage",
        "ResultWriter",
        "ResultPath",
        "Catch",
        "Next",
    ):
        assert listing[field] == inventory[field], field
    assert listing["ItemBatcher"]["BatchInput"]["prefix.$"] == "$.run.prefix"  # an inventory lists the whole bucket


def test_the_inventory_map_reads_the_manifest_the_lock_step_checked() -> None:
    reader = STATES["EachInventoryRow"]["ItemReader"]
    assert reader == {
        "ReaderConfig": {"InputType": "MANIFEST"},
        "Resource": "arn:aws:states:::s3:getObject",
        "Parameters": {"Bucket.$": "$.run.manifest_bucket", "Key.$": "$.run.manifest_key"},
    }
    assert "ItemSelector" not in STATES["EachInventoryRow"]  # the rows go as they are: BackfillItem reads them
    assert STATES["Lock"]["Next"] == "Source"
    choice = STATES["Source"]
    assert choice["Choices"] == [{"Variable": "$.run.source", "StringEquals": "manifest", "Next": "EachInventoryRow"}]
    assert choice["Default"] == "Each"

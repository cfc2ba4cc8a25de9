"""``photosort cost`` for the bedrock backend: dated, sourced per-token prices and tokens per image."""

from __future__ import annotations

import json
import math

import pytest

from photosort.backends.bedrock import SYSTEM_PROMPT, prompt, tool_config, vocabulary
from photosort.routing import load_rules
from photosort_local.cost import bedrock as bedrock_cost
from photosort_local.cost import model as cost
from photosort_local.cost.prices import load_prices

PRICES = load_prices()
MEASURED = cost.Measured()


@pytest.mark.parametrize(
    "item", ["nova_lite_input_per_1k_tokens", "nova_lite_output_per_1k_tokens", "nova_lite_image_tokens_4x3"]
)
def test_bedrock_price_entries_are_dated_and_sourced(item: str) -> None:
    entry = PRICES["bedrock"][item]
    assert entry["value"] > 0 and entry["unit"] and entry["status"] in ("confirmed", "secondary", "unverified")
    assert entry["asserted_on"].startswith("2026-") and entry["source"].startswith("https://")


def test_text_tokens_come_from_the_request_the_backend_builds() -> None:
    labels = vocabulary(load_rules("family"))
    text = SYSTEM_PROMPT + prompt(labels) + json.dumps(tool_config(labels, 20))
    assert bedrock_cost.text_tokens("family") == math.ceil(len(text) / bedrock_cost.CHARS_PER_TOKEN)
    # A larger vocabulary costs more text tokens per photo.
    assert bedrock_cost.text_tokens("dealership") != bedrock_cost.text_tokens("family")


def test_bedrock_estimate_is_tokens_times_prices() -> None:
    est = cost.estimate(1_000_000, "bedrock", prices=PRICES, measured=MEASURED)
    model = [i for i in est.items if i.service == "Bedrock"]
    tokens = bedrock_cost.tokens_per_image(PRICES)
    assert [i.quantity for i in model] == pytest.approx(
        [1e6 * tokens.input_tokens / 1000, 1e6 * tokens.output_tokens / 1000]
    )
    assert [i.unit_price for i in model] == [
        PRICES["bedrock"]["nova_lite_input_per_1k_tokens"]["value"],
        PRICES["bedrock"]["nova_lite_output_per_1k_tokens"]["value"],
    ]
    assert f"{tokens.image_tokens} image + {tokens.text_tokens} text tokens/photo" in model[0].item
    assert est.fixed == 0  # pay per photo, nothing running


def test_bedrock_is_cheaper_per_photo_than_detect_labels_but_dearer_than_local() -> None:
    for volume in (10_000, 1_000_000):

        def total(backend: str, volume: int = volume) -> float:
            return cost.estimate(volume, backend, prices=PRICES, measured=MEASURED).total

        assert total("local") < total("bedrock") < total("rekognition")


def test_cli_shows_the_tokens_per_image(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from photosort_local.cli import main

    monkeypatch.setattr(cost, "load_measured", lambda *a, **k: cost.Measured())
    assert main(["cost", "--images", "100000", "--backend", "bedrock"]) == 0
    out = capsys.readouterr().out
    assert "backend bedrock" in out and "image +" in out and "tokens/photo" in out

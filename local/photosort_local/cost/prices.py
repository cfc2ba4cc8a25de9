"""Dated AWS list prices (us-east-1) from ``prices.json``: each entry has a value, a unit, a date and a source."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PRICES = Path(__file__).resolve().parents[1] / "prices.json"


def load_prices(path: Path = PRICES) -> dict[str, Any]:
    prices: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return prices


def price(prices: dict[str, Any], service: str, item: str) -> float:
    return float(prices[service][item]["value"])

"""Before and after: the cost per 1M photos (local backend) as issue 9 found it, next to the model today.

``python -m photosort_local.cost.compare [BEFORE.json]`` (``make bench`` runs it). BEFORE is the JSON that
``photosort cost --images 1000000 --backend local --json`` printed before the changes
(``bench/results/cost-before-i9.json``, same prices and bench figures).
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from photosort_local.cost import model

BEFORE = model.REPO / "bench" / "results" / "cost-before-i9.json"
UPLOAD_PUT_PER_PHOTO = 0.005 / 1000  # the user's own upload, billed to the user whatever photosort does


def _by_service(items: list[dict[str, Any]]) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for item in items:
        out[item["service"]] += float(item["cost"])
    return dict(out)


def table(before: dict[str, Any], after: model.Estimate) -> str:
    images = float(before["images"])
    old = _by_service(before["backends"]["local"]["items"])
    new = _by_service([vars(i) for i in after.items])
    upload = images * UPLOAD_PUT_PER_PHOTO
    lines = [
        f"cost per {images:,.0f} photos, local backend (before = {BEFORE.name}):",
        f"  {'':16} {'before':>9} {'after':>9}",
    ]
    for service in sorted(set(old) | set(new), key=lambda s: -old.get(s, 0.0)):
        lines.append(f"  {service:16} {old.get(service, 0.0):>9.2f} {new.get(service, 0.0):>9.2f}")
    lines.append(f"  {'total':16} {sum(old.values()):>9.2f} {after.total:>9.2f}")
    lines.append(
        f"  {'pipeline only':16} {sum(old.values()) - upload:>9.2f} {after.total - upload:>9.2f}"
        f"   (without the user's upload PUT, ${upload:.2f})"
    )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    before = json.loads(Path(argv[0] if argv else BEFORE).read_text(encoding="utf-8"))
    print(table(before, model.estimate(float(before["images"]), "local")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""The cost command's output: an itemised table per backend, the memory table, and a cost-vs-volume plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from photosort_local.cost.model import (
    ACCEPTABLE_CLASSIFY_MS,
    BACKENDS,
    Estimate,
    Measured,
    break_even_vs_rekognition,
    estimate,
)


def _money(x: float) -> str:
    return f"${x:,.2f}" if x >= 0.01 or x == 0 else f"${x:.4f}"


def format_estimate(est: Estimate, be: float | None) -> str:
    lines = [f"backend {est.backend}: {est.images:,.0f} photos/month"]
    for i in est.items:
        lines.append(
            f"  {i.service:<16} {i.item:<96} {i.quantity:>14,.3f} {i.unit:<15} x {i.unit_price:<12.10g} = {_money(i.cost):>12}"
        )
    lines.append(
        f"  {'TOTAL':<16} {'':<96} {'':>14} {'':<15}   {'':<12}   {_money(est.total):>12}"
        f"   ({_money(est.total / est.images * 1000) if est.images else '-'} per 1000 photos)"
    )
    if est.fixed:
        lines.append(
            f"  fixed monthly cost {_money(est.fixed)}; break-even volume vs rekognition: "
            + (f"{be:,.0f} photos/month" if be else "none (never cheaper)")
        )
    return "\n".join(lines)


def plot(
    path: Path,
    *,
    prices: dict[str, Any] | None = None,
    memory: dict[str, int] | None = None,
    measured: Measured | None = None,
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    volumes = np.logspace(3, 8, 60)
    fig, ax = plt.subplots(figsize=(9, 6), dpi=110)
    kw = {"prices": prices, "memory": memory, "measured": measured}
    for backend in BACKENDS:
        costs = [estimate(v, backend, **kw).total for v in volumes]
        ax.loglog(volumes, costs, label=backend, linewidth=2)
    for backend in ("custom-labels", "sagemaker"):
        be = break_even_vs_rekognition(backend, **kw)
        if be and 1e3 <= be <= 1e8:
            c = estimate(be, "rekognition", **kw).total
            ax.plot([be], [c], "ko", markersize=5)
            ax.annotate(
                f"{backend} = rekognition\nat {be:,.0f}/month",
                (be, c),
                textcoords="offset points",
                xytext=(8, -28),
                fontsize=8,
            )
    ax.set_xlabel("photos per month")
    ax.set_ylabel("USD per month (us-east-1 list prices)")
    ax.set_title("photosort monthly cost by classifier backend")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


def format_memory_table(rows: list[dict[str, Any]], best: dict[str, Any] | None, measured: Measured) -> str:
    lines = [
        f"classify (local backend, 12 MP JPEG), from {measured.source}:",
        f"  {'memory':>7} {'vCPU':>6} {'duration':>10} {'$/1M invocations':>17}",
    ]
    for r in rows:
        lines.append(
            f"  {r['memory_mb']:>5}MB {r['vcpu_share']:>6.2f} {r['duration_ms']:>8.0f}ms {r['cost_per_million']:>17.4f}"
            f"{'' if r['acceptable'] else '   (not acceptable)'}"
        )
    if best:
        lines.append(f"  cheapest acceptable (<= {ACCEPTABLE_CLASSIFY_MS:.0f} ms): {best['memory_mb']} MB")
    return "\n".join(lines)

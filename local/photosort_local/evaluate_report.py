"""What ``photosort evaluate`` shows: a text summary, a JSON document, and an HTML page with confusion
matrices drawn by matplotlib (embedded as PNG, so the page is one file)."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from io import BytesIO
from typing import IO, Any

from photosort_local.evaluate import BackendReport, Recommendation, Skipped, percentile


def _pct(x: float | None) -> str:
    return "     -" if x is None else f"{100 * x:5.1f}%"


def _ms(x: float | None) -> str:
    return "-" if x is None else f"{x:,.0f} ms"


def print_summary(
    reports: Sequence[BackendReport],
    skipped: Sequence[Skipped],
    recommendation: Recommendation,
    *,
    volume: float,
    out: IO[str],
) -> None:
    if reports:
        print(
            f"{'backend':<14} {'photos':>6} {'right':>7} {'wrong':>7} {'unsorted':>8} {'failed':>7} "
            f"{'p50':>9} {'p95':>9} {'$/month':>12}  (at {volume:,.0f} photos/month)",
            file=out,
        )
        for r in reports:
            lat = r.latencies()
            print(
                f"{r.backend:<14} {len(r.scored):>6} {_pct(r.rate('right')):>7} {_pct(r.rate('wrong')):>7} "
                f"{_pct(r.rate('unsorted')):>8} {_pct(r.rate('failed')):>7} {_ms(percentile(lat, 50)):>9} "
                f"{_ms(percentile(lat, 95)):>9} {r.monthly_cost:>12,.2f}",
                file=out,
            )
        for r in reports:
            print(f"\n{r.backend}: per album (precision / recall)", file=out)
            for score in r.album_scores():
                print(
                    f"  {score.album:<16} expected {score.expected:>4}  sorted here {score.predicted:>4}  "
                    f"precision {_pct(score.precision)}  recall {_pct(score.recall)}",
                    file=out,
                )
    for s in skipped:
        print(f"\nskipped {s.backend}: {s.reason}", file=out)
    print(f"\nRecommendation: {recommendation.text}", file=out)
    for option in recommendation.options:
        cost = "-" if option.monthly_cost is None else f"${option.monthly_cost:,.2f}/month"
        print(f"  - {option.name} ({cost}): {option.how}", file=out)


def confusion_png(report: BackendReport) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, cols, matrix = report.confusion()
    fig, ax = plt.subplots(figsize=(1.2 + 0.75 * max(len(cols), 1), 1.0 + 0.55 * max(len(rows), 1)), dpi=100)
    ax.imshow(matrix or [[0]], cmap="Blues", aspect="auto")
    ax.set_xticks(range(len(cols)), cols, rotation=40, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel("where photosort put it")
    ax.set_ylabel("expected album")
    ax.set_title(f"{report.backend}: {len(report.scored)} photos")
    peak = max((max(row) for row in matrix if row), default=0)
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            if value:
                ax.text(j, i, str(value), ha="center", va="center", color="white" if value > peak / 2 else "black")
    fig.tight_layout()
    buffer = BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:70em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}.ok{background:#e6f4e6}
.rec{border-left:4px solid #2a7;padding:.5em 1em;background:#f6fbf7}.skip{color:#a50}
"""


def _cell(x: Any) -> str:
    return f"<td>{html.escape(str(x))}</td>"


def html_report(
    reports: Sequence[BackendReport],
    skipped: Sequence[Skipped],
    recommendation: Recommendation,
    *,
    dataset: str,
    volume: float,
    targets: tuple[float, float],
) -> str:
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>photosort evaluate</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>photosort evaluate: {html.escape(dataset)}</h1>",
        (
            f"<p>Target: at least {100 * targets[0]:.0f}% right album, at most {100 * targets[1]:.0f}% wrong album. "
            f"Cost at {volume:,.0f} photos/month from <code>photosort cost</code>'s model (us-east-1 list prices).</p>"
        ),
        f"<div class='rec'><b>Recommendation.</b> {html.escape(recommendation.text)}",
    ]
    if recommendation.options:
        parts.append("<ul>")
        for o in recommendation.options:
            cost = "-" if o.monthly_cost is None else f"${o.monthly_cost:,.2f}/month"
            parts.append(f"<li><b>{html.escape(o.name)}</b> ({cost}): {html.escape(o.how)}</li>")
        parts.append("</ul>")
    parts.append("</div><h2>Backends</h2><table><tr><th>backend</th><th>photos</th><th>right</th><th>wrong</th>")
    parts.append("<th>unsorted</th><th>failed</th><th>p50</th><th>p95</th><th>$/month</th></tr>")
    for r in reports:
        lat = r.latencies()
        ok = " class='ok'" if recommendation.chosen == r.backend else ""
        parts.append(
            f"<tr{ok}>{_cell(r.backend)}{_cell(len(r.scored))}{_cell(_pct(r.rate('right')))}"
            f"{_cell(_pct(r.rate('wrong')))}{_cell(_pct(r.rate('unsorted')))}{_cell(_pct(r.rate('failed')))}"
            f"{_cell(_ms(percentile(lat, 50)))}{_cell(_ms(percentile(lat, 95)))}{_cell(f'{r.monthly_cost:,.2f}')}</tr>"
        )
    parts.append("</table>")
    for s in skipped:
        parts.append(f"<p class='skip'>Skipped <b>{html.escape(s.backend)}</b>: {html.escape(s.reason)}</p>")
    for r in reports:
        parts.append(f"<h2>{html.escape(r.backend)}</h2><table><tr><th>album</th><th>expected</th>")
        parts.append("<th>sorted here</th><th>precision</th><th>recall</th></tr>")
        for score in r.album_scores():
            parts.append(
                f"<tr>{_cell(score.album)}{_cell(score.expected)}{_cell(score.predicted)}"
                f"{_cell(_pct(score.precision))}{_cell(_pct(score.recall))}</tr>"
            )
        parts.append("</table>")
        if r.scored:
            png = base64.b64encode(confusion_png(r)).decode("ascii")
            parts.append(f"<img alt='confusion matrix for {html.escape(r.backend)}' src='data:image/png;base64,{png}'>")
        mistakes = [x for x in r.scored if BackendReport.outcome(x) != "right"]
        if mistakes:
            parts.append("<details><summary>photos not in their expected album</summary><table>")
            parts.append("<tr><th>photo</th><th>expected</th><th>went to</th><th>top labels / error</th></tr>")
            for x in mistakes[:200]:
                why = x.error or ", ".join(f"{n} {c:.0f}" for n, c in x.labels[:3]) or "no labels"
                parts.append(
                    f"<tr>{_cell(x.sample.name)}{_cell(x.sample.expected)}{_cell(x.predicted)}{_cell(why)}</tr>"
                )
            parts.append("</table></details>")
    parts.append("</body></html>")
    return "\n".join(parts)

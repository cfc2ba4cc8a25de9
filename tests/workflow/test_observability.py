"""A failure of the metrics code never fails a photo (observability is not part of the photo's outcome)."""

from __future__ import annotations

from typing import Any

import pytest
from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics.exceptions import SchemaValidationError

from photosort.models import Status
from photosort.observability import log_metrics
from tests.support.harness import Harness
from tests.workflow.test_workflow import variant


def _broken_serialiser(self: Any, *args: Any, **kwargs: Any) -> Any:
    raise SchemaValidationError("Must contain at least one metric.")


def test_a_handler_that_emits_no_metric_ends_cleanly() -> None:
    metrics = Metrics(namespace="Test", service="t")

    @log_metrics(metrics)
    def handler(event: Any, context: Any) -> dict[str, bool]:
        return {"ok": True}

    assert handler({}, None) == {"ok": True}


def test_a_metrics_error_is_logged_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    metrics = Metrics(namespace="Test", service="t")
    monkeypatch.setattr(type(metrics), "serialize_metric_set", _broken_serialiser)

    @log_metrics(metrics)
    def handler(event: Any, context: Any) -> str:
        metrics.add_metric(name="X", unit="Count", value=1)
        return "result"

    assert handler({}, None) == "result"


def test_a_handler_error_still_propagates() -> None:
    @log_metrics(Metrics(namespace="Test", service="t"))
    def handler(event: Any, context: Any) -> None:
        raise ValueError("the photo's own error")

    with pytest.raises(ValueError, match="own error"):
        handler({}, None)


def test_photos_are_sorted_when_every_metrics_flush_fails(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Metrics, "serialize_metric_set", _broken_serialiser)
    result = harness.upload(harness.unique("metrics-broken.png"), variant("chelsea", 950))
    assert result.outcome.status == "SUCCEEDED"
    assert result.record is not None and result.record.status is Status.SORTED
    rejected = harness.upload(harness.unique("metrics-broken.txt"), b"not a photo at all")
    assert rejected.record is not None and rejected.record.status is Status.REJECTED

"""The workflow under other configurations: the dealership preset, and the Rekognition backend (moto's
DetectLabels) with throttling and failures injected into the service, so the ASL Retry/Catch run for real."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from moto.core.exceptions import JsonRESTError
from moto.rekognition.models import RekognitionBackend

from photosort.models import Status
from photosort_local.samples import find_sample
from photosort_local.stack import EmbeddedStack
from tests.support.harness import Harness
from tests.workflow.test_workflow import sha8, variant

GADGET_RULES = {"rules": [{"album": "gadgets", "labels": ["Phone"], "min_confidence": 90}]}


@pytest.fixture(scope="module")
def dealership() -> Iterator[Harness]:
    with EmbeddedStack(parameters={"RoutingRules": "dealership"}, stack_name="dealer") as stack:
        yield Harness(stack)


@pytest.fixture(scope="module")
def rekognition() -> Iterator[Harness]:
    params = {"ClassifierBackend": "rekognition", "RoutingRules": json.dumps(GADGET_RULES)}
    with EmbeddedStack(parameters=params, stack_name="rekognition") as stack:
        yield Harness(stack)


def test_dealership_sorts_vehicles_into_inventory_by_type(dealership: Harness) -> None:
    data = find_sample("motorcycle_left").read_bytes()

    result = dealership.upload(dealership.unique("lot 7/bike.png"), data)

    assert result.record is not None and result.record.status is Status.SORTED
    assert result.record.destination_key.startswith("inventory/motorcycles/")
    albums = {a.album: (a.kind.value, a.image_count) for a in dealership.repo.list_albums()}
    assert albums["motorcycles"] == ("inventory", 1)


def test_rekognition_labels_route_with_inline_json_rules(rekognition: Harness) -> None:
    result = rekognition.upload(rekognition.unique("phone.png"), variant("chelsea", 20))

    record = result.record
    assert record is not None and record.backend == "rekognition" and record.model_version == "3.0"
    assert record.status is Status.SORTED and record.destination_key.startswith("albums/gadgets/")
    phone = next(label for label in record.labels if label.name == "Mobile Phone")
    assert "Phone" in phone.parents


def test_backend_throttled_then_succeeding_is_retried(rekognition: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    real = RekognitionBackend.detect_labels
    calls: list[int] = []

    def throttled_once(self: RekognitionBackend) -> object:
        calls.append(1)
        if len(calls) == 1:
            raise JsonRESTError("ThrottlingException", "Rate exceeded")
        return real(self)

    monkeypatch.setattr(RekognitionBackend, "detect_labels", throttled_once)

    result = rekognition.upload(rekognition.unique("busy.png"), variant("chelsea", 21))

    assert len(calls) == 2  # the Retry on BackendThrottledError matched and ran once more
    assert result.outcome.status == "SUCCEEDED"
    assert result.record is not None and result.record.status is Status.SORTED


def test_backend_failing_lands_in_failed_with_the_reason(rekognition: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(self: RekognitionBackend) -> object:
        raise JsonRESTError("AccessDeniedException", "not authorized to perform rekognition:DetectLabels")

    monkeypatch.setattr(RekognitionBackend, "detect_labels", denied)
    data = variant("chelsea", 22)
    key = rekognition.unique("denied.png")

    result = rekognition.upload(key, data)

    assert result.outcome.status == "FAILED" and result.outcome.error == "BackendUnavailableError"
    record = result.record
    assert record is not None and record.status is Status.FAILED
    assert record.reason.startswith("BackendUnavailableError")
    assert record.destination_key.startswith("failed/") and record.destination_key.endswith(f"-{sha8(data)}.png")
    assert rekognition.keys_with_hash(sha8(data)) == [record.destination_key]
    assert key not in rekognition.keys("incoming/")


def test_rules_from_an_ssm_parameter() -> None:
    """RoutingRulesParameterName: the Record function reads the rules through Powertools Parameters."""
    rules = {"rules": [{"album": "cats-only", "labels": ["Cat"]}]}
    with EmbeddedStack(parameters={"RoutingRulesParameterName": "/photosort/rules"}, stack_name="ssm") as stack:
        stack.client("ssm").put_parameter(Name="/photosort/rules", Type="String", Value=json.dumps(rules))
        harness = Harness(stack)

        result = harness.upload(harness.unique("cat.png"), variant("chelsea", 23))

    assert result.record is not None and result.record.destination_key.startswith("albums/cats-only/")


def test_an_image_the_backend_refuses_is_rejected_not_failed(
    rekognition: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ImageUnusableError from the backend: Classify returns it as backend_rejection, and Record rejects the photo."""

    def refuse(self: RekognitionBackend) -> object:
        raise JsonRESTError("InvalidImageFormatException", "Request has unsupported image format")

    monkeypatch.setattr(RekognitionBackend, "detect_labels", refuse)
    data = variant("chelsea", 24)

    result = rekognition.upload(rekognition.unique("odd.png"), data)

    assert result.outcome.status == "SUCCEEDED"
    record = result.record
    assert record is not None and record.status is Status.REJECTED
    assert record.reason.startswith("BackendRejected: UnsupportedFormat")
    assert rekognition.keys_with_hash(sha8(data)) == [record.destination_key]
    assert record.destination_key.startswith("rejected/")

"""The bedrock backend in the workflow: template.yaml deployed into moto with ClassifierBackend=bedrock, the real
ASL and handlers, and Converse answered through photosort_local.bedrock_adapter by recorded-shape answers.
What the model would say is the test's choice; what the pipeline does with each answer is what is tested."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from photosort.backends.bedrock import TOOL_NAME, vocabulary
from photosort.models import Status
from photosort.routing import load_rules
from photosort_local import bedrock_adapter
from photosort_local.bedrock_adapter import ConverseError, tool_answer
from photosort_local.stack import EmbeddedStack
from tests.support.harness import Harness
from tests.workflow.test_workflow import sha8, variant


@pytest.fixture(scope="module")
def bedrock() -> Iterator[Harness]:
    with EmbeddedStack(parameters={"ClassifierBackend": "bedrock"}, stack_name="bedrock") as stack:
        yield Harness(stack)


@pytest.fixture
def answers() -> Iterator[list[Any]]:
    """Queue answers (a response dict, or a ConverseError to raise); each Converse call takes the next one."""
    queue: list[Any] = []

    def respond(request: dict[str, Any]) -> dict[str, Any]:
        item = queue.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    bedrock_adapter.calls.clear()
    bedrock_adapter.set_responder(respond)
    yield queue
    bedrock_adapter.set_responder(None)


def _enum(request: dict[str, Any]) -> list[str]:
    schema = request["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"]
    return schema["properties"]["labels"]["items"]["properties"]["label"]["enum"]


def test_the_models_answer_routes_by_the_rules(bedrock: Harness, answers: list[Any]) -> None:
    answers.append(tool_answer(TOOL_NAME, [("Cat", "certain"), ("Animal", "likely")]))
    data = variant("chelsea", 101)

    result = bedrock.upload(bedrock.unique("cat.png"), data)

    record = result.record
    assert record is not None and record.status is Status.SORTED
    assert record.backend == "bedrock" and record.model_version == "us.amazon.nova-lite-v1:0"  # the us. profile
    assert record.destination_key.startswith("albums/pets/")
    assert {m.album for m in record.memberships} == {"pets", "animals"}
    (request,) = bedrock_adapter.calls
    assert request["modelId"] == "us.amazon.nova-lite-v1:0"
    assert _enum(request) == list(vocabulary(load_rules("family")))  # asked only what the rules can use
    image = request["messages"][0]["content"][0]["image"]
    assert image["format"] == "png" and image["source"]["bytes"] == data  # the bytes Inspect hashed


def test_throttling_is_retried_by_the_state_machine(bedrock: Harness, answers: list[Any]) -> None:
    answers.append(ConverseError("ThrottlingException", "Too many requests, please wait", 429))
    answers.append(tool_answer(TOOL_NAME, [("Food", "certain")]))

    result = bedrock.upload(bedrock.unique("coffee.png"), variant("coffee", 102))

    assert len(bedrock_adapter.calls) == 2  # Retry on BackendThrottledError
    assert result.outcome.status == "SUCCEEDED"
    assert result.record is not None and result.record.destination_key.startswith("albums/food/")


def test_a_content_filter_refusal_goes_to_rejected_with_the_reason(bedrock: Harness, answers: list[Any]) -> None:
    answers.append({**tool_answer(TOOL_NAME, []), "stopReason": "content_filtered"})
    data = variant("astronaut", 103)

    result = bedrock.upload(bedrock.unique("refused.png"), data)

    record = result.record
    assert result.outcome.status == "SUCCEEDED"
    assert record is not None and record.status is Status.REJECTED
    assert record.reason.startswith("BackendRejected: ContentFiltered")
    assert bedrock.keys_with_hash(sha8(data)) == [record.destination_key]
    assert record.destination_key.startswith("rejected/")


def test_an_off_vocabulary_answer_fails_the_photo_never_labels_it(bedrock: Harness, answers: list[Any]) -> None:
    answers.append(tool_answer(TOOL_NAME, [("Spaceship", "certain")]))
    data = variant("rocket", 104)
    key = bedrock.unique("rocket.png")

    result = bedrock.upload(key, data)

    assert result.outcome.status == "FAILED" and result.outcome.error == "BackendAnswerError"
    record = result.record
    assert record is not None and record.status is Status.FAILED and record.labels == ()
    assert record.reason.startswith("BackendAnswerError") and "Spaceship" in record.reason
    assert record.destination_key.startswith("failed/") and key not in bedrock.keys("incoming/")


def test_s3_image_source_and_rules_from_ssm() -> None:
    """BedrockImageSource=s3 sends an S3 location; RoutingRulesParameterName gives Classify the vocabulary too.

    The parameter name is this test's own: Powertools caches parameters per process for 5 minutes, and every
    embedded stack's functions run in this one process."""
    rules = {"rules": [{"album": "gadgets", "labels": ["Phone", "Laptop"]}]}
    params = {
        "ClassifierBackend": "bedrock",
        "BedrockImageSource": "s3",
        "BedrockInferenceProfile": "none",
        "RoutingRulesParameterName": "/photosort/bedrock-test-rules",
    }
    bedrock_adapter.calls.clear()
    bedrock_adapter.set_responder(lambda request: tool_answer(TOOL_NAME, [("Phone", "likely")]))
    try:
        with EmbeddedStack(parameters=params, stack_name="bedrock-s3") as stack:
            stack.client("ssm").put_parameter(
                Name="/photosort/bedrock-test-rules", Type="String", Value=json.dumps(rules)
            )
            harness = Harness(stack)
            key = harness.unique("phone.jpg")
            data = variant("grace_hopper", 105)  # PNG bytes under a .jpg name: the format comes from the bytes

            result = harness.upload(key, data)
    finally:
        bedrock_adapter.set_responder(None)

    assert result.record is not None and result.record.destination_key.startswith("albums/gadgets/")
    assert result.record.model_version == "amazon.nova-lite-v1:0"  # in-Region: no profile prefix
    (request,) = bedrock_adapter.calls
    assert _enum(request) == ["Phone", "Laptop"]
    image = request["messages"][0]["content"][0]["image"]
    assert image["format"] == "png" and image["source"]["bytes"] == data  # the adapter resolved the S3 location

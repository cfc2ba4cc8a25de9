"""photosort_local.bedrock_adapter: Converse on moto 5.2.5, through a real boto3 client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import moto
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

from photosort.backends.bedrock import TOOL_NAME, tool_config
from photosort_local import MOTO_VERSION, bedrock_adapter, moto_pin
from photosort_local.bedrock_adapter import ConverseError, tool_answer

MODEL = "amazon.nova-lite-v1:0"


@pytest.fixture
def runtime() -> Iterator[Any]:
    bedrock_adapter.install()
    bedrock_adapter.calls.clear()
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="photos")
        s3.put_object(Bucket="photos", Key="incoming/cat.png", Body=b"\x89PNG cat")
        yield boto3.client("bedrock-runtime", region_name="us-east-1")
    bedrock_adapter.set_responder(None)


def _converse(client: Any, source: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return client.converse(
        modelId=MODEL,
        messages=[{"role": "user", "content": [{"image": {"format": "png", "source": source}}, {"text": "labels?"}]}],
        toolConfig=extra.pop("toolConfig", tool_config(["Cat", "Dog"], 5)),
        **extra,
    )


def test_pinned_to_the_tested_moto() -> None:
    assert moto.__version__ == MOTO_VERSION
    with pytest.raises(moto_pin.MotoVersionError, match="Converse adapter are tested against moto"):
        moto_pin.check_version("5.0.0", "the Converse adapter")


def test_moto_alone_has_no_converse() -> None:
    """The gap the adapter fills: moto 5.2.5's bedrock-runtime implements InvokeModel (returning {}) only."""
    from moto.bedrockruntime.models import BedrockRuntimeBackend

    assert hasattr(BedrockRuntimeBackend, "invoke_model") and not hasattr(BedrockRuntimeBackend, "converse")


def test_the_responder_answers_and_sees_the_request_with_image_bytes(runtime: Any) -> None:
    seen: list[dict[str, Any]] = []

    def respond(request: dict[str, Any]) -> dict[str, Any]:
        seen.append(request)
        return tool_answer(TOOL_NAME, [("Cat", "certain")])

    bedrock_adapter.set_responder(respond)

    response = _converse(runtime, {"bytes": b"\x89PNG bytes"})

    assert response["stopReason"] == "tool_use"
    tool_use = response["output"]["message"]["content"][0]["toolUse"]
    assert tool_use["name"] == TOOL_NAME and tool_use["input"] == {"labels": [{"label": "Cat", "certainty": "certain"}]}
    assert response["usage"]["inputTokens"] == 1400
    assert seen[0]["messages"][0]["content"][0]["image"]["source"]["bytes"] == b"\x89PNG bytes"
    assert bedrock_adapter.calls == seen


def test_an_s3_location_is_read_from_moto_s3(runtime: Any) -> None:
    seen: list[dict[str, Any]] = []

    def respond(request: dict[str, Any]) -> dict[str, Any]:
        seen.append(request)
        return tool_answer(TOOL_NAME, [])

    bedrock_adapter.set_responder(respond)

    _converse(runtime, {"s3Location": {"uri": "s3://photos/incoming/cat.png"}})

    assert seen[0]["messages"][0]["content"][0]["image"]["source"]["bytes"] == b"\x89PNG cat"


def test_a_missing_s3_object_is_a_validation_error(runtime: Any) -> None:
    bedrock_adapter.set_responder(lambda req: tool_answer(TOOL_NAME, []))
    with pytest.raises(ClientError) as caught:
        _converse(runtime, {"s3Location": {"uri": "s3://photos/incoming/gone.png"}})
    assert caught.value.response["Error"]["Code"] == "ValidationException"


def test_tool_choice_must_name_a_defined_tool(runtime: Any) -> None:
    bedrock_adapter.set_responder(lambda req: tool_answer(TOOL_NAME, []))
    config = {**tool_config(["Cat"], 5), "toolChoice": {"tool": {"name": "nope"}}}
    with pytest.raises(ClientError, match="undefined tool"):
        _converse(runtime, {"bytes": b"x"}, toolConfig=config)


def test_without_a_responder_every_call_is_refused(runtime: Any) -> None:
    bedrock_adapter.set_responder(None)
    with pytest.raises(ClientError, match="no Bedrock models") as caught:
        _converse(runtime, {"bytes": b"x"})
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert bedrock_adapter.calls == []


def test_a_responder_error_becomes_the_service_error_with_its_status(runtime: Any) -> None:
    def throttle(request: dict[str, Any]) -> dict[str, Any]:
        raise ConverseError("ThrottlingException", "Too many requests", 429)

    bedrock_adapter.set_responder(throttle)
    client = boto3.client("bedrock-runtime", region_name="us-east-1", config=Config(retries={"max_attempts": 1}))
    with pytest.raises(ClientError) as caught:
        _converse(client, {"bytes": b"x"})
    assert caught.value.response["Error"]["Code"] == "ThrottlingException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429

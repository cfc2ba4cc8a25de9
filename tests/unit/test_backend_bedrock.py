"""The bedrock backend against a stubbed real boto3 bedrock-runtime client (botocore Stubber validates every
request and response against the service model).

The Converse responses below are written in the shape the Bedrock API reference documents (ConverseOutput,
ToolUseBlock, StopReason, usage); none was recorded from AWS (no account here)."""

from __future__ import annotations

import os
from io import BytesIO
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from PIL import Image

from photosort import constants
from photosort.backends import create_backend
from photosort.backends.base import ImageInput
from photosort.backends.bedrock import (
    CERTAINTY,
    DEFAULT_MODEL_ID,
    THROTTLE_CODES,
    TOOL_NAME,
    BedrockClassifier,
    tool_config,
    vocabulary,
)
from photosort.errors import (
    BackendAnswerError,
    BackendThrottledError,
    BackendUnavailableError,
    ImageUnusableError,
)
from photosort.models import BackendLimits, ImageMetadata, ObjectRef, RejectionReason
from photosort.routing import load_rules, match
from photosort.settings import Settings

FAMILY = vocabulary(load_rules("family"))


def _encode(fmt: str, size: tuple[int, int], *, noise: bool = False) -> bytes:
    img = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)) if noise else Image.new("RGB", size, "teal")
    out = BytesIO()
    img.save(out, format=fmt)
    return out.getvalue()


def _image(fmt: str, data: bytes, size: tuple[int, int] = (640, 480), *, in_s3: bool = True) -> ImageInput:
    ref = ObjectRef(bucket="photos", key=f"incoming/pic.{fmt.lower()}", size=len(data))
    meta = ImageMetadata(format=fmt, width=size[0], height=size[1], mode="RGB")
    return ImageInput(ref=ref, metadata=meta, fetch=lambda: data, in_s3=in_s3)


def answer(*labels: tuple[str, str], stop: str = "tool_use", name: str = TOOL_NAME) -> dict[str, Any]:
    return {
        "output": {
            "message": {
                "role": "assistant",
                "content": [
                    {
                        "toolUse": {
                            "toolUseId": "tooluse_1",
                            "name": name,
                            "input": {"labels": [{"label": n, "certainty": c} for n, c in labels]},
                        }
                    }
                ],
            }
        },
        "stopReason": stop,
        "usage": {"inputTokens": 2210, "outputTokens": 41, "totalTokens": 2251},
        "metrics": {"latencyMs": 800},
    }


def text_answer(text: str, stop: str = "end_turn") -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": stop,
        "usage": {"inputTokens": 2210, "outputTokens": 12, "totalTokens": 2222},
        "metrics": {"latencyMs": 700},
    }


@pytest.fixture
def client() -> Any:
    return boto3.client("bedrock-runtime", region_name="us-east-1")


def _backend(client: Any, *, labels: tuple[str, ...] = FAMILY, source: str = "bytes", max_labels: int = 20) -> Any:
    return BedrockClassifier(
        client,
        BackendLimits(max_labels=max_labels, max_pixels=100_000_000),
        model_id=DEFAULT_MODEL_ID,
        labels=lambda: labels,
        image_source=source,
    )


def _expected(image_block: Any, labels: tuple[str, ...] = FAMILY) -> dict[str, Any]:
    return {
        "modelId": DEFAULT_MODEL_ID,
        "system": ANY,
        "messages": [{"role": "user", "content": [{"image": image_block}, {"text": ANY}]}],
        "toolConfig": tool_config(labels, 20),
        "inferenceConfig": {"maxTokens": ANY, "temperature": 0.0},
    }


def test_the_answer_is_constrained_to_the_rules_vocabulary_and_normalised(client: Any) -> None:
    png = _encode("PNG", (640, 480))
    with Stubber(client) as stub:
        stub.add_response(
            "converse",
            answer(("cat", "likely"), ("Pet", "certain"), ("Animal", "possible"), ("Cat", "certain")),
            _expected({"format": "png", "source": {"bytes": png}}),
        )
        result = _backend(client).classify(_image("PNG", png))
        stub.assert_no_pending_responses()

    # The vocabulary's spelling, the best certainty per label, ranked by confidence then by rules order.
    assert [(label.name, label.confidence) for label in result.labels] == [
        ("Cat", CERTAINTY["certain"]),
        ("Pet", CERTAINTY["certain"]),
        ("Animal", CERTAINTY["possible"]),
    ]
    assert result.backend == "bedrock" and result.model_version == DEFAULT_MODEL_ID
    assert [m.album for m in match(load_rules("family"), result.labels)] == ["pets"]  # Animal 40 < 50


def test_tool_schema_forces_the_tool_and_enumerates_labels_and_certainties() -> None:
    config = tool_config(("Cat", "Dog"), 5)
    assert config["toolChoice"] == {"tool": {"name": TOOL_NAME}}
    schema = config["tools"][0]["toolSpec"]["inputSchema"]["json"]
    item = schema["properties"]["labels"]["items"]
    assert item["properties"]["label"]["enum"] == ["Cat", "Dog"]
    assert item["properties"]["certainty"]["enum"] == list(CERTAINTY)
    assert schema["properties"]["labels"]["maxItems"] == 5 and schema["required"] == ["labels"]


def test_vocabulary_is_every_rule_label_once_in_file_order() -> None:
    rules = load_rules(
        '{"rules": [{"album": "a", "labels": ["Cat", "Dog"]}, {"album": "b", "labels": ["cat", "Car"]}]}'
    )
    assert vocabulary(rules) == ("Cat", "Dog", "Car")
    assert FAMILY[:4] == ("Person", "Human", "Face", "Portrait") and len(FAMILY) == len(set(FAMILY))


def test_an_empty_answer_is_no_labels(client: Any) -> None:
    with Stubber(client) as stub:
        stub.add_response("converse", answer(), _expected(ANY))
        result = _backend(client).classify(_image("PNG", _encode("PNG", (64, 64))))
    assert result.labels == ()


def test_max_labels_keeps_the_best(client: Any) -> None:
    with Stubber(client) as stub:
        stub.add_response("converse", answer(("Dog", "possible"), ("Pet", "certain"), ("Animal", "likely")), None)
        result = _backend(client, max_labels=2).classify(_image("PNG", _encode("PNG", (64, 64))))
    assert [label.name for label in result.labels] == ["Pet", "Animal"]


def test_formats_bedrock_cannot_read_are_converted_to_jpeg(client: Any) -> None:
    tiff = _encode("TIFF", (300, 200))
    seen: list[dict[str, Any]] = []
    client.meta.events.register(
        "provide-client-params.bedrock-runtime.Converse", lambda params, **_: seen.append(params)
    )
    with Stubber(client) as stub:
        stub.add_response("converse", answer(("Cat", "certain")), None)
        _backend(client).classify(_image("TIFF", tiff, (300, 200)))
    image = seen[0]["messages"][0]["content"][0]["image"]
    assert image["format"] == "jpeg" and image["source"]["bytes"][:3] == b"\xff\xd8\xff"
    with Image.open(BytesIO(image["source"]["bytes"])) as img:
        assert img.size == (300, 200)


def test_an_image_over_the_inline_limit_is_shrunk_to_fit(client: Any) -> None:
    big = _encode("PNG", (1400, 1000), noise=True)  # ~4.2 MB of noise: over Converse's 3.75 MB
    assert len(big) > 3.75 * 1024 * 1024
    seen: list[dict[str, Any]] = []
    client.meta.events.register(
        "provide-client-params.bedrock-runtime.Converse", lambda params, **_: seen.append(params)
    )
    with Stubber(client) as stub:
        stub.add_response("converse", answer(), None)
        _backend(client).classify(_image("PNG", big, (1400, 1000)))
    sent = seen[0]["messages"][0]["content"][0]["image"]["source"]["bytes"]
    assert len(sent) <= 3.75 * 1024 * 1024 and sent[:3] == b"\xff\xd8\xff"


def test_s3_source_sends_the_location_not_the_bytes(client: Any) -> None:
    def no_fetch() -> bytes:
        raise AssertionError("bytes must not be read when Bedrock reads S3")

    image = ImageInput(
        ref=ObjectRef(bucket="photos", key="incoming/a b.jpg", size=1000),
        metadata=ImageMetadata(format="JPEG", width=800, height=600, mode="RGB"),
        fetch=no_fetch,
    )
    with Stubber(client) as stub:
        stub.add_response(
            "converse",
            answer(("Cat", "certain")),
            _expected({"format": "jpeg", "source": {"s3Location": {"uri": "s3://photos/incoming/a b.jpg"}}}),
        )
        _backend(client, source="s3").classify(image)


def test_a_local_file_always_goes_as_bytes(client: Any) -> None:
    png = _encode("PNG", (64, 64))
    with Stubber(client) as stub:
        stub.add_response("converse", answer(), _expected({"format": "png", "source": {"bytes": png}}))
        _backend(client, source="s3").classify(_image("PNG", png, (64, 64), in_s3=False))


@pytest.mark.parametrize("code", sorted(THROTTLE_CODES))
def test_throttling_and_busy_models_are_retried(client: Any, code: str) -> None:
    assert {"ThrottlingException", "ServiceQuotaExceededException", "ModelNotReadyException"} <= THROTTLE_CODES
    with Stubber(client) as stub:
        stub.add_client_error("converse", service_error_code=code, service_message="slow down", http_status_code=429)
        with pytest.raises(BackendThrottledError, match=code):
            _backend(client).classify(_image("PNG", _encode("PNG", (64, 64))))


@pytest.mark.parametrize("stop", ["content_filtered", "guardrail_intervened"])
def test_a_content_filter_stop_is_a_named_rejection(client: Any, stop: str) -> None:
    with Stubber(client) as stub:
        stub.add_response("converse", text_answer("", stop=stop), None)
        with pytest.raises(ImageUnusableError) as caught:
            _backend(client).classify(_image("PNG", _encode("PNG", (64, 64))))
    assert caught.value.reason is RejectionReason.CONTENT_FILTERED and stop in caught.value.detail


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("This request has been blocked by our content filters.", RejectionReason.CONTENT_FILTERED),
        ("The image could not be processed: invalid image data", RejectionReason.IMAGE_REFUSED),
    ],
)
def test_validation_refusals_of_the_image_are_named_rejections(
    client: Any, message: str, reason: RejectionReason
) -> None:
    with Stubber(client) as stub:
        stub.add_client_error("converse", service_error_code="ValidationException", service_message=message)
        with pytest.raises(ImageUnusableError) as caught:
            _backend(client).classify(_image("PNG", _encode("PNG", (64, 64))))
    assert caught.value.reason is reason


@pytest.mark.parametrize(
    ("response", "match_text"),
    [
        (text_answer("The photo shows a cat."), "without calling record_labels"),
        (answer(("Cat", "certain"), name="other_tool"), "without calling record_labels"),
        (answer(("Spaceship", "certain")), "not in the rules' vocabulary"),
        (answer(("Cat", "very sure")), "certainty 'very sure'"),
        (answer(("Cat", "certain"), stop="max_tokens"), "stopReason max_tokens"),
        (text_answer("{", stop="malformed_tool_use"), "stopReason malformed_tool_use"),
        (text_answer("{", stop="malformed_model_output"), "stopReason malformed_model_output"),
    ],
)
def test_malformed_or_off_vocabulary_answers_are_named_errors(
    client: Any, response: dict[str, Any], match_text: str
) -> None:
    with Stubber(client) as stub:
        stub.add_response("converse", response, None)
        with pytest.raises(BackendAnswerError, match=match_text):
            _backend(client).classify(_image("PNG", _encode("PNG", (64, 64))))


def test_a_tool_call_without_a_labels_list_is_a_named_error(client: Any) -> None:
    response = answer()
    response["output"]["message"]["content"][0]["toolUse"]["input"] = {"label": "Cat"}
    with Stubber(client) as stub:
        stub.add_response("converse", response, None)
        with pytest.raises(BackendAnswerError, match="without a labels list"):
            _backend(client).classify(_image("PNG", _encode("PNG", (64, 64))))


@pytest.mark.parametrize(
    ("code", "message", "fix"),
    [
        ("AccessDeniedException", "You don't have access to the model with the specified model ID.", "model access"),
        ("ValidationException", "The provided model identifier is invalid.", constants.BEDROCK_MODEL_ID),
        (
            "ValidationException",
            (
                "Invocation of model ID amazon.nova-lite-v1:0 with on-demand throughput isn't supported. "
                "Retry your request with the ID or ARN of an inference profile that contains this model."
            ),
            "us.amazon.nova-lite-v1:0",
        ),
        ("ResourceNotFoundException", "Model not found", "BedrockInferenceProfile"),
    ],
)
def test_a_model_that_cannot_be_used_names_the_fix(client: Any, code: str, message: str, fix: str) -> None:
    with Stubber(client) as stub:
        stub.add_client_error("converse", service_error_code=code, service_message=message)
        with pytest.raises(BackendUnavailableError, match=fix.replace(".", r"\.")):
            _backend(client).classify(_image("PNG", _encode("PNG", (64, 64))))


def test_rules_without_labels_never_reach_the_model(client: Any) -> None:
    with Stubber(client), pytest.raises(BackendUnavailableError, match="no labels"):
        _backend(client, labels=()).classify(_image("PNG", _encode("PNG", (64, 64))))


def test_create_backend_asks_about_the_configured_rules(client: Any) -> None:
    rules = '{"rules": [{"album": "gadgets", "labels": ["Phone", "Laptop"]}]}'
    settings = Settings.from_env(
        {constants.BACKEND: "bedrock", constants.RULES: rules, constants.BEDROCK_MODEL_ID: DEFAULT_MODEL_ID}
    )
    backend = create_backend(settings, lambda service: client if service == "bedrock-runtime" else None)
    assert isinstance(backend, BedrockClassifier)
    with Stubber(client) as stub:
        stub.add_response("converse", answer(("Phone", "certain")), _expected(ANY, ("Phone", "Laptop")))
        result = backend.classify(_image("PNG", _encode("PNG", (64, 64))))
    assert [m.album for m in match(load_rules(rules), result.labels)] == ["gadgets"]


def test_settings_default_to_nova_lite_and_bytes() -> None:
    settings = Settings.from_env({constants.BACKEND: "bedrock", constants.BEDROCK_MODEL_ID: ""})
    assert settings.bedrock_model_id == "amazon.nova-lite-v1:0" and settings.bedrock_image_source == "bytes"

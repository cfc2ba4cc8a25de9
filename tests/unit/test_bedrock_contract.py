"""The Bedrock backend's contract in detail: the exact tool schema and prompt the model is given, how each kind of
answer is read (or refused, with a message that names the model), which errors mean what, and what is logged.

parse_answer and _map_error are called directly with Converse-shaped dicts and botocore ClientErrors; classify
runs against a stubbed real bedrock-runtime client (botocore's Stubber validates requests and responses).
"""

from __future__ import annotations

import logging
from io import BytesIO
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber
from PIL import Image

from photosort.backends import bedrock
from photosort.backends._aws_images import ImageLimits
from photosort.backends.base import ImageInput
from photosort.errors import (
    BackendAnswerError,
    BackendError,
    BackendThrottledError,
    BackendUnavailableError,
    ImageUnusableError,
)
from photosort.models import BackendLimits, ImageMetadata, ObjectRef, RejectionReason

MODEL = "amazon.nova-lite-v1:0"
LABELS = ("Cat", "Dog", "Beach")


def tool_answer(payload: object, *, stop: str = "tool_use") -> dict[str, Any]:
    return {
        "output": {
            "message": {
                "role": "assistant",
                "content": [{"toolUse": {"toolUseId": "t1", "name": bedrock.TOOL_NAME, "input": payload}}],
            }
        },
        "stopReason": stop,
        "usage": {"inputTokens": 100, "outputTokens": 7, "totalTokens": 107},
        "metrics": {"latencyMs": 5},
    }


def parse(response: dict[str, Any], labels: tuple[str, ...] = LABELS) -> list[tuple[str, float]]:
    return bedrock.parse_answer(response, labels, model_id=MODEL)


def answer_error(response: dict[str, Any], labels: tuple[str, ...] = LABELS) -> str:
    with pytest.raises(BackendAnswerError) as caught:
        parse(response, labels)
    return str(caught.value)


# -- what the model is asked ----------------------------------------------------------------------------------------
def test_the_tool_schema_is_exactly_a_list_of_vocabulary_labels_with_certainties() -> None:
    assert bedrock.tool_config(["Cat", "Dog"], 5) == {
        "tools": [
            {
                "toolSpec": {
                    "name": "record_labels",
                    "description": "Record which of the allowed labels apply to the photo, each with a certainty.",
                    "inputSchema": {
                        "json": {
                            "type": "object",
                            "properties": {
                                "labels": {
                                    "type": "array",
                                    "maxItems": 5,
                                    "description": "Every allowed label that applies; an empty list if none do.",
                                    "items": {
                                        "type": "object",
                                        "properties": {
                                            "label": {"type": "string", "enum": ["Cat", "Dog"]},
                                            "certainty": {"type": "string", "enum": ["certain", "likely", "possible"]},
                                        },
                                        "required": ["label", "certainty"],
                                    },
                                }
                            },
                            "required": ["labels"],
                        }
                    },
                }
            }
        ],
        "toolChoice": {"tool": {"name": "record_labels"}},
    }


def test_the_prompt_lists_the_allowed_labels() -> None:
    assert bedrock.prompt(LABELS) == "Allowed labels: Cat, Dog, Beach. Which of them apply to this photo?"


# -- reading the answer ---------------------------------------------------------------------------------------------
def test_the_best_certainty_of_a_label_named_twice_wins_and_spelling_is_the_vocabularys() -> None:
    payload = {
        "labels": [
            {"label": " cat ", "certainty": "Certain "},
            {"label": "Cat", "certainty": "possible"},
            {"label": "beach", "certainty": "possible"},
            {"label": "DOG", "certainty": " likely"},
        ]
    }
    assert parse(tool_answer(payload)) == [("Cat", 95.0), ("Dog", 75.0), ("Beach", 40.0)]


def test_equal_certainties_keep_the_vocabulary_order() -> None:
    payload = {"labels": [{"label": "Beach", "certainty": "likely"}, {"label": "Cat", "certainty": "likely"}]}
    assert parse(tool_answer(payload)) == [("Cat", 75.0), ("Beach", 75.0)]


@pytest.mark.parametrize(
    "response",
    [{}, {"output": {}}, {"output": {"message": {}}}, {"output": {"message": {"content": []}}}],
    ids=["nothing", "no message", "no content", "empty content"],
)
def test_an_answer_without_content_says_so(response: dict[str, Any]) -> None:
    assert answer_error(response) == f"{MODEL} answered without calling record_labels (stopReason None): (no text)"


def test_an_answer_in_prose_quotes_the_text_cut_to_200_characters() -> None:
    content = [{"text": "I think"}, "not a block", {"text": "x" * 300}, {"image": {}}]
    response = {"output": {"message": {"content": content}}, "stopReason": "end_turn"}
    expected_text = ("I think " + "x" * 300 + " ")[:200]
    assert (
        answer_error(response)
        == f"{MODEL} answered without calling record_labels (stopReason end_turn): {expected_text}"
    )


def test_a_call_to_another_tool_is_not_an_answer() -> None:
    response = tool_answer({"labels": []})
    response["output"]["message"]["content"][0]["toolUse"]["name"] = "other_tool"
    assert answer_error(response).startswith(f"{MODEL} answered without calling record_labels (stopReason tool_use)")


@pytest.mark.parametrize("payload", [["Cat"], "Cat", None, {"labels": "Cat"}, {"other": []}])
def test_a_tool_call_without_a_labels_list_quotes_its_input(payload: object) -> None:
    assert answer_error(tool_answer(payload)) == (
        f"{MODEL} called record_labels without a labels list: {str(payload)[:200]}"
    )


def test_a_long_tool_input_is_quoted_to_200_characters() -> None:
    payload = {"labels": None, "pad": "p" * 400}
    assert answer_error(tool_answer(payload)) == (
        f"{MODEL} called record_labels without a labels list: {str(payload)[:200]}"
    )


@pytest.mark.parametrize("item", ["Cat", ["Cat", "certain"], 7])
def test_an_item_that_is_not_an_object_is_refused(item: object) -> None:
    assert answer_error(tool_answer({"labels": [item]})).startswith(f"{MODEL} answered label None, which is not in")


def test_a_label_outside_the_vocabulary_names_up_to_eight_of_them() -> None:
    nine = tuple(f"L{i}" for i in range(9))
    eight = nine[:8]
    payload = {"labels": [{"label": "Zebra", "certainty": "certain"}]}
    assert answer_error(tool_answer(payload), nine) == (
        f"{MODEL} answered label 'Zebra', which is not in the rules' vocabulary "
        "(9 labels: L0, L1, L2, L3, L4, L5, L6, L7, ...)"
    )
    assert answer_error(tool_answer(payload), eight) == (
        f"{MODEL} answered label 'Zebra', which is not in the rules' vocabulary "
        "(8 labels: L0, L1, L2, L3, L4, L5, L6, L7)"
    )


@pytest.mark.parametrize("certainty", ["sure", None, 95])
def test_an_unknown_certainty_is_refused(certainty: object) -> None:
    payload = {"labels": [{"label": "Cat", "certainty": certainty}]}
    assert answer_error(tool_answer(payload)) == (
        f"{MODEL} gave 'Cat' the certainty {certainty!r}; expected one of ['certain', 'likely', 'possible']"
    )


# -- errors -----------------------------------------------------------------------------------------------------------
def _backend(client: Any = None, **kwargs: Any) -> bedrock.BedrockClassifier:
    return bedrock.BedrockClassifier(
        client or boto3.client("bedrock-runtime", region_name="us-east-1"),
        BackendLimits(max_labels=5),
        model_id=MODEL,
        labels=lambda: LABELS,
        **kwargs,
    )


def _error(code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "Converse")  # type: ignore[arg-type]


def test_an_image_source_other_than_bytes_or_s3_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^image_source must be 'bytes' or 's3', not 'http'$"):
        _backend(image_source="http")


def test_the_content_filter_refusing_a_request_is_a_named_rejection() -> None:
    error = _backend()._map_error(_error("ValidationException", "This request has been BLOCKED by our filters."))
    assert isinstance(error, ImageUnusableError) and error.reason is RejectionReason.CONTENT_FILTERED
    assert (
        error.detail
        == f"Bedrock {MODEL} content filter refused the image: This request has been BLOCKED by our filters."
    )


def test_request_validation_refusing_the_image_is_a_named_rejection() -> None:
    error = _backend()._map_error(_error("ValidationException", "The Image is too small"))
    assert isinstance(error, ImageUnusableError) and error.reason is RejectionReason.IMAGE_REFUSED
    assert error.detail == f"Bedrock {MODEL} refused the image: The Image is too small"


def test_an_image_hint_in_another_errors_message_is_not_a_rejection() -> None:
    error = _backend()._map_error(_error("SomethingElseException", "image pipeline failed"))
    assert type(error) is BackendError
    assert str(error) == "bedrock:InvokeModel failed (SomethingElseException): image pipeline failed"


def test_a_model_error_is_a_bad_answer() -> None:
    error = _backend()._map_error(_error("ModelErrorException", "the model crashed"))
    assert type(error) is BackendAnswerError
    assert str(error) == f"Bedrock {MODEL} failed to answer (ModelErrorException): the model crashed"


def test_a_validation_error_about_nothing_known_falls_back_to_the_shared_mapping() -> None:
    error = _backend()._map_error(_error("ValidationException", "maxTokens out of range"))
    assert type(error) is BackendError
    assert str(error) == "bedrock:InvokeModel failed (ValidationException): maxTokens out of range"


def test_a_shared_throttle_code_names_the_bedrock_action() -> None:
    error = _backend()._map_error(_error("TooManyRequestsException", "slow"))
    assert type(error) is BackendThrottledError
    assert str(error) == "bedrock:InvokeModel was throttled or briefly unavailable (TooManyRequestsException): slow"


def test_access_denied_says_how_to_get_access() -> None:
    error = _backend()._map_error(_error("AccessDeniedException", "no access"))
    assert type(error) is BackendUnavailableError
    text = str(error)
    assert text.startswith(f"Bedrock {MODEL} was denied (AccessDeniedException): the caller needs bedrock:InvokeModel")
    assert (
        "inference profile when the id starts with a geography such as us.), and model access must be granted" in text
    )
    assert text.endswith("for this account and region. no access")


def test_a_model_that_cannot_be_used_names_the_setting_and_the_profile_form() -> None:
    text = str(_backend()._map_error(_error("ResourceNotFoundException", "no model")))
    assert text == (
        f"Bedrock model {MODEL} cannot be used here (ResourceNotFoundException: no model). Check "
        "PHOTOSORT_BEDROCK_MODEL_ID and the region; a model that needs a cross-Region inference profile "
        "takes its id with the geography prefix, e.g. us.amazon.nova-lite-v1:0 (BedrockInferenceProfile)."
    )


def test_rules_without_labels_say_why_nothing_is_asked() -> None:
    backend = bedrock.BedrockClassifier(
        boto3.client("bedrock-runtime", region_name="us-east-1"), BackendLimits(), model_id=MODEL, labels=tuple
    )
    with pytest.raises(BackendUnavailableError) as caught:
        backend.classify(_image(_png()))
    assert str(caught.value) == "the rules name no labels, so there is nothing to ask the model"


# -- classify end to end ----------------------------------------------------------------------------------------------
def _png(size: tuple[int, int] = (32, 24)) -> bytes:
    out = BytesIO()
    Image.new("RGB", size, (0, 90, 90)).save(out, format="PNG")
    return out.getvalue()


def _image(data: bytes, size: tuple[int, int] = (32, 24)) -> ImageInput:
    meta = ImageMetadata(format="PNG", width=size[0], height=size[1], mode="RGB")
    return ImageInput(
        ref=ObjectRef(bucket="photos", key="incoming/a.png", size=len(data)), metadata=meta, fetch=lambda: data
    )


def _request(image_block: Any) -> dict[str, Any]:
    return {
        "modelId": MODEL,
        "system": [{"text": bedrock.SYSTEM_PROMPT}],
        "messages": [
            {"role": "user", "content": [{"image": image_block}, {"text": bedrock.prompt(LABELS)}]},
        ],
        "toolConfig": bedrock.tool_config(LABELS, 5),
        "inferenceConfig": {"maxTokens": 400, "temperature": 0.0},
    }


def test_by_default_the_bytes_go_to_the_model_and_usage_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    backend = _backend()  # image_source defaults to bytes
    data = _png()
    payload = {"labels": [{"label": "Dog", "certainty": "likely"}]}
    with Stubber(backend._client) as stub, caplog.at_level(logging.INFO, logger=bedrock.__name__):
        stub.add_response("converse", tool_answer(payload), _request({"format": "png", "source": {"bytes": data}}))
        result = backend.classify(_image(data))
    assert [(label.name, label.confidence) for label in result.labels] == [("Dog", 75.0)]
    assert (result.backend, result.model_version) == ("bedrock", MODEL)
    logged = [r for r in caplog.records if r.name == bedrock.__name__]
    assert [r.getMessage() for r in logged] == ["bedrock answered"]
    assert (logged[0].input_tokens, logged[0].output_tokens) == (100, 7)  # type: ignore[attr-defined]


def test_a_bad_answer_names_the_model_it_came_from() -> None:
    backend = _backend()
    with Stubber(backend._client) as stub:
        stub.add_response("converse", tool_answer({"labels": "none"}), _request(ANY))
        with pytest.raises(BackendAnswerError, match=rf"^{MODEL} called record_labels"):
            backend.classify(_image(_png()))


def test_an_image_exactly_at_the_inline_limit_goes_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _png()
    monkeypatch.setattr(
        bedrock,
        "CONVERSE_IMAGE",
        ImageLimits(max_object_bytes=len(data), max_inline_bytes=len(data), min_side=1, max_side=8000),
    )
    assert _backend()._image_block(_image(data)) == {"format": "png", "source": {"bytes": data}}
    monkeypatch.setattr(
        bedrock,
        "CONVERSE_IMAGE",
        ImageLimits(max_object_bytes=len(data), max_inline_bytes=len(data) - 1, min_side=1, max_side=8000),
    )
    with pytest.raises(ImageUnusableError) as caught:  # one byte over: converted, and no JPEG fits in 94 bytes
        _backend()._image_block(_image(data))
    assert caught.value.reason is RejectionReason.TOO_LARGE

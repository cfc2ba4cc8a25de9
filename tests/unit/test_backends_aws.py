"""The AWS backends (Rekognition, Custom Labels, SageMaker) against stubbed real boto3 clients, and moto."""

from __future__ import annotations

import json
import os
from io import BytesIO
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from PIL import Image

from photosort.backends import create_backend
from photosort.backends._aws_images import DETECT_LABELS, ImageLimits, fit_jpeg
from photosort.backends.base import ImageInput
from photosort.backends.custom_labels import CustomLabelsClassifier
from photosort.backends.rekognition import RekognitionClassifier
from photosort.backends.sagemaker import SageMakerClassifier
from photosort.errors import (
    BackendError,
    BackendThrottledError,
    BackendUnavailableError,
    ImageUnusableError,
)
from photosort.models import BackendLimits, ImageMetadata, ObjectRef, RejectionReason
from photosort.settings import Settings

MB = 1024 * 1024
PIXELS = 100_000_000
ARN = "arn:aws:rekognition:us-east-1:123456789012:project/pets/version/pets.2024-05-01T10.00.00/1714557600000"


# Fake credentials and region come from tests/conftest.py (autouse).


def _client(service: str) -> Any:
    return boto3.client(service, region_name="us-east-1")


def _encode(fmt: str, size: tuple[int, int], *, noise: bool = False) -> bytes:
    if noise:  # incompressible pixels, to make big files
        img = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    else:
        img = Image.new("RGB", size, (30, 120, 200))
    out = BytesIO()
    img.save(out, format=fmt)
    return out.getvalue()


def _no_fetch() -> bytes:
    raise AssertionError("the bytes must not be read when Rekognition reads S3 itself")


def _image(
    fmt: str,
    size: tuple[int, int],
    data: bytes | None = None,
    *,
    declared_size: int | None = None,
    version_id: str | None = None,
) -> ImageInput:
    ref = ObjectRef(
        bucket="photos",
        key=f"incoming/pic.{fmt.lower()}",
        size=declared_size if declared_size is not None else len(data or b""),
        version_id=version_id,
    )
    meta = ImageMetadata(format=fmt, width=size[0], height=size[1], mode="RGB")
    return ImageInput(ref=ref, metadata=meta, fetch=(lambda: data) if data is not None else _no_fetch)


def _capture(client: Any, operation: str) -> list[dict[str, Any]]:
    """Record the parameters of every call, to look inside ``Bytes`` that the Stubber matches with ANY."""
    seen: list[dict[str, Any]] = []
    service = client.meta.service_model.service_name
    client.meta.events.register(
        f"before-parameter-build.{service}.{operation}", lambda params, **_: seen.append(dict(params))
    )
    return seen


def _is_jpeg(data: bytes) -> bool:
    return data.startswith(b"\xff\xd8\xff")


# Shape copied from real DetectLabels (image model 3.0) responses: all ancestors listed alphabetically.
DETECT_LABELS_RESPONSE: dict[str, Any] = {
    "Labels": [
        {
            "Name": "Golden Retriever",
            "Confidence": 96.17,
            "Instances": [],
            "Parents": [{"Name": "Animal"}, {"Name": "Canine"}, {"Name": "Dog"}, {"Name": "Mammal"}, {"Name": "Pet"}],
            "Aliases": [],
            "Categories": [{"Name": "Animals and Pets"}],
        },
        {
            "Name": "Dog",
            "Confidence": 99.42,
            "Instances": [
                {
                    "BoundingBox": {"Width": 0.61, "Height": 0.83, "Left": 0.2, "Top": 0.12},
                    "Confidence": 98.8,
                }
            ],
            "Parents": [{"Name": "Animal"}, {"Name": "Canine"}, {"Name": "Mammal"}, {"Name": "Pet"}],
            "Aliases": [],
            "Categories": [{"Name": "Animals and Pets"}],
        },
        {
            "Name": "Canine",
            "Confidence": 99.42,
            "Instances": [],
            "Parents": [{"Name": "Animal"}, {"Name": "Mammal"}],
            "Aliases": [],
            "Categories": [{"Name": "Animals and Pets"}],
        },
        {
            "Name": "Mammal",
            "Confidence": 99.42,
            "Instances": [],
            "Parents": [{"Name": "Animal"}],
            "Aliases": [],
            "Categories": [{"Name": "Animals and Pets"}],
        },
        {
            "Name": "Pet",
            "Confidence": 99.42,
            "Instances": [],
            "Parents": [{"Name": "Animal"}],
            "Aliases": [],
            "Categories": [{"Name": "Animals and Pets"}],
        },
        {
            "Name": "Animal",
            "Confidence": 99.42,
            "Instances": [],
            "Parents": [],
            "Aliases": [],
            "Categories": [{"Name": "Animals and Pets"}],
        },
        {
            "Name": "Grass",
            "Confidence": 88.05,
            "Instances": [],
            "Parents": [{"Name": "Plant"}],
            "Aliases": [{"Name": "Lawn"}],
            "Categories": [{"Name": "Plants and Flowers"}, {"Name": "Nature and Outdoors"}],
        },
    ],
    "LabelModelVersion": "3.0",
}


def _rekognition(client: Any) -> RekognitionClassifier:
    return RekognitionClassifier(client, BackendLimits(max_labels=10, min_confidence=55.0, max_pixels=PIXELS))


# --- Rekognition DetectLabels ---------------------------------------------------------------------


def test_rekognition_reads_jpeg_from_s3_and_normalizes_labels() -> None:
    client = _client("rekognition")
    image = _image("JPEG", (4032, 3024), declared_size=3 * MB, version_id="3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY")
    with Stubber(client) as stub:
        stub.add_response(
            "detect_labels",
            DETECT_LABELS_RESPONSE,
            {
                "Image": {
                    "S3Object": {
                        "Bucket": "photos",
                        "Name": "incoming/pic.jpeg",
                        "Version": "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
                    }
                },
                "MaxLabels": 10,
                "MinConfidence": 55.0,
            },
        )
        result = _rekognition(client).classify(image)
        stub.assert_no_pending_responses()

    assert result.backend == "rekognition"
    assert result.model_version == "3.0"
    by_name = {label.name: label for label in result.labels}
    golden = by_name["Golden Retriever"]
    assert golden.confidence == pytest.approx(96.17)
    assert golden.parents == ("Dog", "Canine", "Mammal", "Pet", "Animal")  # nearest first
    assert golden.categories == ("Animals and Pets",)
    assert by_name["Grass"].parents == ("Plant",)  # Plant is not a label here: service order kept
    assert by_name["Grass"].categories == ("Plants and Flowers", "Nature and Outdoors")
    assert by_name["Animal"].parents == ()
    assert [label.confidence for label in result.labels] == sorted(
        (label.confidence for label in result.labels), reverse=True
    )


def test_rekognition_omits_version_when_the_bucket_is_unversioned() -> None:
    client = _client("rekognition")
    with Stubber(client) as stub:
        stub.add_response(
            "detect_labels",
            {"Labels": [], "LabelModelVersion": "3.0"},
            {
                "Image": {"S3Object": {"Bucket": "photos", "Name": "incoming/pic.png"}},
                "MaxLabels": 10,
                "MinConfidence": 55.0,
            },
        )
        # 8 MB PNG: over the 5 MB inline limit but within the 15 MB Rekognition reads from S3.
        result = _rekognition(client).classify(_image("PNG", (3000, 2000), declared_size=8 * MB))
    assert result.labels == ()


@pytest.mark.parametrize("fmt", ["WEBP", "GIF"])
def test_rekognition_converts_other_formats_to_jpeg_bytes(fmt: str) -> None:
    client = _client("rekognition")
    data = _encode(fmt, (640, 480))
    sent = _capture(client, "DetectLabels")
    with Stubber(client) as stub:
        stub.add_response(
            "detect_labels",
            DETECT_LABELS_RESPONSE,
            {"Image": {"Bytes": ANY}, "MaxLabels": 10, "MinConfidence": 55.0},
        )
        result = _rekognition(client).classify(_image(fmt, (640, 480), data))
    body = sent[0]["Image"]["Bytes"]
    assert _is_jpeg(body)
    assert Image.open(BytesIO(body)).size == (640, 480)
    assert result.model_version == "3.0"


def test_rekognition_shrinks_an_oversize_png_under_5_mb() -> None:
    data = _encode("PNG", (2700, 2500), noise=True)
    assert len(data) > 15 * MB  # too big for Rekognition to read from S3; a plain re-encode is still > 5 MB
    client = _client("rekognition")
    sent = _capture(client, "DetectLabels")
    with Stubber(client) as stub:
        stub.add_response(
            "detect_labels",
            {"Labels": [], "LabelModelVersion": "3.0"},
            {"Image": {"Bytes": ANY}, "MaxLabels": 10, "MinConfidence": 55.0},
        )
        _rekognition(client).classify(_image("PNG", (2700, 2500), data))
    body = sent[0]["Image"]["Bytes"]
    assert _is_jpeg(body)
    assert len(body) <= 5 * MB
    assert Image.open(BytesIO(body)).width < 2700


def test_fit_jpeg_keeps_shrinking_until_the_limit_is_met() -> None:
    data = _encode("PNG", (1200, 900), noise=True)
    limits = ImageLimits(max_object_bytes=MB, max_inline_bytes=60_000, min_side=80, max_side=10_000)
    out = fit_jpeg(data, limits, max_pixels=PIXELS)
    assert len(out) <= 60_000
    width, height = Image.open(BytesIO(out)).size
    assert width / height == pytest.approx(4 / 3, rel=0.02)


def test_fit_jpeg_enlarges_an_image_below_the_minimum_side() -> None:
    out = fit_jpeg(_encode("PNG", (60, 40)), DETECT_LABELS, max_pixels=PIXELS)
    assert Image.open(BytesIO(out)).size == (120, 80)


def test_rekognition_retries_a_refused_s3_reference_as_bytes_then_rejects() -> None:
    client = _client("rekognition")
    data = _encode("JPEG", (800, 600))
    with Stubber(client) as stub:
        for image_param in ({"S3Object": {"Bucket": "photos", "Name": "incoming/pic.jpeg"}}, {"Bytes": ANY}):
            stub.add_client_error(
                "detect_labels",
                "InvalidImageFormatException",
                "Request has invalid image format",
                expected_params={"Image": image_param, "MaxLabels": 10, "MinConfidence": 55.0},
            )
        with pytest.raises(ImageUnusableError) as info:
            _rekognition(client).classify(_image("JPEG", (800, 600), data))
        stub.assert_no_pending_responses()
    assert info.value.reason is RejectionReason.UNSUPPORTED_FORMAT


def test_rekognition_falls_back_to_bytes_when_it_cannot_read_s3() -> None:
    client = _client("rekognition")
    data = _encode("JPEG", (800, 600))
    with Stubber(client) as stub:
        stub.add_client_error(
            "detect_labels",
            "InvalidS3ObjectException",
            "Unable to get object metadata from S3. Check object key, region and/or access permissions.",
        )
        stub.add_response(
            "detect_labels",
            DETECT_LABELS_RESPONSE,
            {"Image": {"Bytes": ANY}, "MaxLabels": 10, "MinConfidence": 55.0},
        )
        result = _rekognition(client).classify(_image("JPEG", (800, 600), data))
        stub.assert_no_pending_responses()
    assert result.labels


@pytest.mark.parametrize(
    "code",
    ["ThrottlingException", "ProvisionedThroughputExceededException", "LimitExceededException", "InternalServerError"],
)
def test_rekognition_throttling_is_retryable(code: str) -> None:
    client = _client("rekognition")
    with Stubber(client) as stub:
        stub.add_client_error("detect_labels", code, "Slow down", http_status_code=400)
        with pytest.raises(BackendThrottledError, match=code):
            _rekognition(client).classify(_image("JPEG", (800, 600), declared_size=10_000))


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("AccessDeniedException", BackendUnavailableError),
        ("InvalidParameterException", BackendError),
    ],
)
def test_rekognition_other_errors(code: str, error: type[Exception]) -> None:
    client = _client("rekognition")
    with Stubber(client) as stub:
        stub.add_client_error("detect_labels", code, "nope")
        with pytest.raises(error, match=code) as info:
            _rekognition(client).classify(_image("JPEG", (800, 600), declared_size=10_000))
    if error is BackendUnavailableError:
        assert "rekognition:DetectLabels" in str(info.value)


# --- Rekognition Custom Labels --------------------------------------------------------------------


def _custom(client: Any) -> CustomLabelsClassifier:
    limits = BackendLimits(max_labels=5, min_confidence=70.0, max_pixels=PIXELS)
    return CustomLabelsClassifier(client, limits, project_version_arn=ARN)


def test_custom_labels_request_and_labels() -> None:
    client = _client("rekognition")
    response = {
        "CustomLabels": [
            {"Name": "tabby", "Confidence": 91.5},
            {
                "Name": "tabby",  # object-detection models return one entry per box
                "Confidence": 97.25,
                "Geometry": {"BoundingBox": {"Width": 0.4, "Height": 0.5, "Left": 0.1, "Top": 0.2}},
            },
            {"Name": "sofa", "Confidence": 74.0},
        ]
    }
    with Stubber(client) as stub:
        stub.add_response(
            "detect_custom_labels",
            response,
            {
                "ProjectVersionArn": ARN,
                "Image": {"S3Object": {"Bucket": "photos", "Name": "incoming/pic.jpeg", "Version": "v7"}},
                "MaxResults": 5,
                "MinConfidence": 70.0,
            },
        )
        result = _custom(client).classify(_image("JPEG", (1024, 768), declared_size=400_000, version_id="v7"))
    assert [(label.name, label.confidence) for label in result.labels] == [("tabby", 97.25), ("sofa", 74.0)]
    assert result.model_version == "pets.2024-05-01T10.00.00"
    assert result.backend == "custom-labels"


def test_custom_labels_converts_beyond_its_4096_pixel_limit() -> None:
    client = _client("rekognition")
    data = _encode("JPEG", (5000, 200))
    sent = _capture(client, "DetectCustomLabels")
    with Stubber(client) as stub:
        stub.add_response(
            "detect_custom_labels",
            {"CustomLabels": []},
            {"ProjectVersionArn": ARN, "Image": {"Bytes": ANY}, "MaxResults": 5, "MinConfidence": 70.0},
        )
        _custom(client).classify(_image("JPEG", (5000, 200), data))
    body = sent[0]["Image"]["Bytes"]
    assert _is_jpeg(body) and len(body) <= 4 * MB
    assert max(Image.open(BytesIO(body)).size) <= 4096


@pytest.mark.parametrize("code", ["ResourceNotReadyException", "ResourceNotFoundException"])
def test_custom_labels_model_not_running(code: str) -> None:
    client = _client("rekognition")
    with Stubber(client) as stub:
        stub.add_client_error("detect_custom_labels", code, "ProjectVersion is not in RUNNING state")
        with pytest.raises(BackendUnavailableError) as info:
            _custom(client).classify(_image("JPEG", (1024, 768), declared_size=400_000))
    assert ARN in str(info.value)
    assert "aws rekognition start-project-version" in str(info.value)


def test_custom_labels_throttling_is_retryable() -> None:
    client = _client("rekognition")
    with Stubber(client) as stub:
        stub.add_client_error("detect_custom_labels", "ThrottlingException", "Rate exceeded")
        with pytest.raises(BackendThrottledError):
            _custom(client).classify(_image("JPEG", (1024, 768), declared_size=400_000))


# --- SageMaker --------------------------------------------------------------------------------------


def _sagemaker(client: Any, class_names: tuple[str, ...] = ("cat", "dog", "car")) -> SageMakerClassifier:
    limits = BackendLimits(max_labels=2, max_pixels=PIXELS)
    return SageMakerClassifier(client, limits, endpoint_name="pets-classifier", class_names=class_names)


def _invoke_response(payload: object, variant: str | None = "AllTraffic") -> dict[str, Any]:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    response: dict[str, Any] = {"Body": StreamingBody(BytesIO(raw), len(raw)), "ContentType": "application/json"}
    if variant:
        response["InvokedProductionVariant"] = variant
    return response


def _invoke_params(body: object = ANY, content_type: str = "application/x-image") -> dict[str, Any]:
    return {"EndpointName": "pets-classifier", "ContentType": content_type, "Accept": "application/json", "Body": body}


@pytest.mark.parametrize(
    "payload",
    [[0.05, 0.9, 0.05], {"prediction": [0.05, 0.9, 0.05]}, {"probabilities": [0.05, 0.9, 0.05]}],
)
def test_sagemaker_builtin_probabilities(payload: object) -> None:
    client = _client("sagemaker-runtime")
    data = _encode("JPEG", (320, 240))
    with Stubber(client) as stub:
        stub.add_response("invoke_endpoint", _invoke_response(payload), _invoke_params(body=data))
        result = _sagemaker(client).classify(_image("JPEG", (320, 240), data))
    assert [(label.name, label.confidence) for label in result.labels] == [
        ("dog", pytest.approx(90.0)),
        ("cat", pytest.approx(5.0)),
    ]
    assert result.model_version == "pets-classifier/AllTraffic"
    assert result.backend == "sagemaker"


@pytest.mark.parametrize(
    "payload",
    [
        [{"label": "dog", "score": 0.8}, {"label": "ball", "score": 0.3}],
        {"predictions": [{"label": "dog", "probability": 0.8}, {"label": "ball", "confidence": 0.3}]},
    ],
)
def test_sagemaker_named_labels(payload: object) -> None:
    client = _client("sagemaker-runtime")
    data = _encode("PNG", (320, 240))
    with Stubber(client) as stub:
        stub.add_response("invoke_endpoint", _invoke_response(payload, variant=None), _invoke_params(body=data))
        result = _sagemaker(client, class_names=()).classify(_image("PNG", (320, 240), data))
    assert [(label.name, label.confidence) for label in result.labels] == [
        ("dog", pytest.approx(80.0)),
        ("ball", pytest.approx(30.0)),
    ]
    assert result.model_version == "pets-classifier"


def test_sagemaker_converts_webp_to_jpeg() -> None:
    client = _client("sagemaker-runtime")
    sent = _capture(client, "InvokeEndpoint")
    with Stubber(client) as stub:
        stub.add_response("invoke_endpoint", _invoke_response([0.2, 0.7, 0.1]), _invoke_params())
        _sagemaker(client).classify(_image("WEBP", (320, 240), _encode("WEBP", (320, 240))))
    assert _is_jpeg(sent[0]["Body"])


def test_sagemaker_class_names_length_mismatch() -> None:
    client = _client("sagemaker-runtime")
    with Stubber(client) as stub:
        stub.add_response("invoke_endpoint", _invoke_response([0.1, 0.2, 0.3, 0.4]), _invoke_params())
        with pytest.raises(BackendError, match=r"4 probabilities but 3 class names"):
            _sagemaker(client).classify(_image("JPEG", (320, 240), _encode("JPEG", (320, 240))))


@pytest.mark.parametrize(
    "raw", [b"<html>502 Bad Gateway</html>", b'{"result": "dog"}', b'[{"label": "dog"}]', b"[1.7, 0.1, 0.2]"]
)
def test_sagemaker_unparseable_output(raw: bytes) -> None:
    client = _client("sagemaker-runtime")
    with Stubber(client) as stub:
        stub.add_response("invoke_endpoint", _invoke_response(raw), _invoke_params())
        with pytest.raises(BackendError) as info:
            _sagemaker(client).classify(_image("JPEG", (320, 240), _encode("JPEG", (320, 240))))
    assert raw.decode()[:20] in str(info.value)


def test_sagemaker_model_error() -> None:
    client = _client("sagemaker-runtime")
    with Stubber(client) as stub:
        stub.add_client_error(
            "invoke_endpoint",
            "ModelError",
            "Received server error (500) from primary",
            http_status_code=424,
            modeled_fields={
                "OriginalStatusCode": 500,
                "OriginalMessage": "CUDA out of memory",
                "LogStreamArn": "arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/Endpoints/pets",
            },
        )
        with pytest.raises(BackendError, match="CUDA out of memory"):
            _sagemaker(client).classify(_image("JPEG", (320, 240), _encode("JPEG", (320, 240))))


@pytest.mark.parametrize(
    ("code", "message", "error"),
    [
        ("ServiceUnavailable", "busy", BackendThrottledError),
        ("ModelNotReadyException", "loading", BackendThrottledError),
        ("ValidationError", "Endpoint pets-classifier of account 123456789012 not found.", BackendUnavailableError),
        ("AccessDeniedException", "not authorized", BackendUnavailableError),
    ],
)
def test_sagemaker_error_mapping(code: str, message: str, error: type[Exception]) -> None:
    client = _client("sagemaker-runtime")
    with Stubber(client) as stub:
        stub.add_client_error("invoke_endpoint", code, message)
        with pytest.raises(error):
            _sagemaker(client).classify(_image("JPEG", (320, 240), _encode("JPEG", (320, 240))))


# --- wiring and moto ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "cls"),
    [
        ({"backend": "rekognition"}, RekognitionClassifier),
        ({"backend": "custom-labels", "custom_labels_project_version_arn": ARN}, CustomLabelsClassifier),
        ({"backend": "sagemaker", "sagemaker_endpoint_name": "pets-classifier"}, SageMakerClassifier),
    ],
)
def test_create_backend_builds_each_aws_backend(values: dict[str, str], cls: type) -> None:
    services: list[str] = []

    def factory(service: str) -> Any:
        services.append(service)
        return _client(service)

    backend = create_backend(Settings(**values), factory)
    assert isinstance(backend, cls)
    assert services == ["sagemaker-runtime" if cls is SageMakerClassifier else "rekognition"]


def test_rekognition_against_moto() -> None:
    from moto import mock_aws

    with mock_aws():
        result = _rekognition(_client("rekognition")).classify(_image("JPEG", (1024, 768), declared_size=200_000))
    assert result.model_version == "3.0"
    assert [(label.name, label.parents, label.categories) for label in result.labels] == [
        ("Mobile Phone", ("Phone",), ("Technology and Computing",))
    ]

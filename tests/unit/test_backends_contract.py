"""The AWS backends' contract, piece by piece: how a ClientError becomes a named photosort error (what the state
machine then does), how SageMaker output is parsed, how Custom Labels answers are normalised, how a tiny image
is enlarged, and that ``create_backend`` hands every backend the configured settings.

botocore ClientErrors are built as botocore builds them; clients are stubbed with botocore's Stubber.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from PIL import Image

from photosort.backends import _aws_errors, _aws_images, create_backend, custom_labels, sagemaker
from photosort.backends.base import ImageInput
from photosort.errors import (
    BackendError,
    BackendThrottledError,
    BackendUnavailableError,
    ImageUnusableError,
)
from photosort.models import BackendLimits, ImageMetadata, ObjectRef, RejectionReason
from photosort.settings import Settings

ARN = "arn:aws:rekognition:us-east-1:123456789012:project/pets/version/pets.v2/1714557600000"
ACTION = "rekognition:DetectLabels"


def client_error(code: str | None = None, message: str | None = None, **extra: Any) -> ClientError:
    error: dict[str, str] = {}
    if code is not None:
        error["Code"] = code
    if message is not None:
        error["Message"] = message
    response: dict[str, Any] = {"Error": error, **extra} if (error or not extra) else dict(extra)
    return ClientError(response, "SomeOperation")  # type: ignore[arg-type]


# -- error mapping shared by the AWS backends ----------------------------------------------------------------------
def test_the_code_and_message_of_a_client_error() -> None:
    assert _aws_errors.error_code(client_error("Throttling", " slow down \n")) == "Throttling"
    assert _aws_errors.error_message(client_error("Throttling", " slow down \n")) == "slow down"
    assert _aws_errors.error_code(client_error(message="x")) == "Unknown"
    assert _aws_errors.error_message(client_error("X")) == ""
    no_error = ClientError({"ResponseMetadata": {"HTTPStatusCode": 500}}, "Op")  # type: ignore[typeddict-item]
    assert (_aws_errors.error_code(no_error), _aws_errors.error_message(no_error)) == ("Unknown", "")


@pytest.mark.parametrize("code", sorted(_aws_errors.THROTTLE_CODES))
def test_throttling_and_transient_codes_are_retryable(code: str) -> None:
    error = _aws_errors.map_client_error(client_error(code, "busy"), action=ACTION)
    assert type(error) is BackendThrottledError
    assert str(error) == f"{ACTION} was throttled or briefly unavailable ({code}): busy"


def test_the_throttle_codes_are_the_documented_ones() -> None:
    assert {
        "ThrottlingException",
        "Throttling",
        "ProvisionedThroughputExceededException",
        "LimitExceededException",
        "TooManyRequestsException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalServerError",
        "InternalFailure",
        "ModelNotReadyException",
    } == _aws_errors.THROTTLE_CODES


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("InvalidImageFormatException", RejectionReason.UNSUPPORTED_FORMAT),
        ("ImageTooLargeException", RejectionReason.TOO_LARGE),
    ],
)
def test_an_image_the_service_refuses_is_a_named_rejection(code: str, reason: RejectionReason) -> None:
    error = _aws_errors.map_client_error(client_error(code, "bad pixels"), action=ACTION)
    assert isinstance(error, ImageUnusableError) and error.reason is reason
    assert error.detail == f"{ACTION} refused the image ({code}): bad pixels"


@pytest.mark.parametrize("code", ["AccessDeniedException", "AccessDenied"])
def test_access_denied_names_the_permission_to_grant(code: str) -> None:
    error = _aws_errors.map_client_error(client_error(code, "not authorized"), action=ACTION)
    assert type(error) is BackendUnavailableError
    assert (
        str(error) == f"{ACTION} was denied ({code}): the function role needs the {ACTION} permission. not authorized"
    )


def test_an_unreadable_s3_object_is_a_setup_problem_not_a_bad_photo() -> None:
    error = _aws_errors.map_client_error(
        client_error("InvalidS3ObjectException", "Unable to get object"), action=ACTION
    )
    assert type(error) is BackendUnavailableError
    assert str(error).startswith(f"{ACTION} could not read the S3 object (InvalidS3ObjectException): ")
    assert "s3:GetObject and s3:GetObjectVersion" in str(error) and str(error).endswith("Unable to get object")


def test_any_other_code_is_a_backend_error() -> None:
    error = _aws_errors.map_client_error(client_error("InvalidParameterException", "MinConfidence"), action=ACTION)
    assert type(error) is BackendError
    assert str(error) == f"{ACTION} failed (InvalidParameterException): MinConfidence"


# -- SageMaker ------------------------------------------------------------------------------------------------------
def test_an_excerpt_is_the_first_200_characters_marked_when_cut() -> None:
    assert sagemaker._excerpt(b"a" * 200) == "a" * 200
    assert sagemaker._excerpt(b"a" * 201) == "a" * 200 + "..."
    assert sagemaker._excerpt(b"\xff ok") == "\ufffd ok"


@pytest.mark.parametrize(("value", "percent"), [(0, 0.0), (1, 100.0), (0.25, 25.0), (1.0, 100.0), (0.0, 0.0)])
def test_a_score_in_0_to_1_is_a_percentage(value: float, percent: float) -> None:
    assert sagemaker._percent(value, b"raw") == percent


@pytest.mark.parametrize("value", [True, False, -0.01, 1.01, float("nan"), float("inf"), "0.5", None])
def test_anything_else_as_a_score_is_a_contract_violation(value: object) -> None:
    with pytest.raises(BackendError) as caught:
        sagemaker._percent(value, b"the raw output")
    assert str(caught.value) == f"endpoint score {value!r} is not a number in 0-1; output: the raw output"


@pytest.mark.parametrize(
    ("raw", "names", "scores"),
    [
        (b"[[0.1, 0.9]]", ("cat", "dog"), {"cat": 10.0, "dog": 90.0}),  # a batch of one
        (b'{"prediction": [[0.1, 0.9]]}', ("cat", "dog"), {"cat": 10.0, "dog": 90.0}),
        (b"[0.7, 0.2]", ("cat", "cat"), {"cat": 70.0}),  # a repeated class name keeps its best score
        (b"[]", ("cat", "dog"), {}),  # nothing predicted
        (b'{"predictions": []}', (), {}),
        (
            b'[{"label": "dog", "score": 0.6}, {"label": "dog", "score": 0.3}, {"label": "cat", "confidence": 0.5}]',
            (),
            {"dog": 60.0, "cat": 50.0},
        ),
        (b'{"probabilities": [1, 0]}', ("cat", "dog"), {"cat": 100.0, "dog": 0.0}),
    ],
)
def test_sagemaker_output_shapes(raw: bytes, names: tuple[str, ...], scores: dict[str, float]) -> None:
    assert sagemaker.parse_output(raw, names) == pytest.approx(scores)


def test_the_first_wrapper_key_wins() -> None:
    raw = b'{"prediction": [0.1, 0.9], "probabilities": [0.9, 0.1]}'
    assert sagemaker.parse_output(raw, ("cat", "dog")) == pytest.approx({"cat": 10.0, "dog": 90.0})


def test_the_first_score_key_wins() -> None:
    raw = b'[{"label": "dog", "score": 0.2, "probability": 0.9}]'
    assert sagemaker.parse_output(raw, ()) == pytest.approx({"dog": 20.0})


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\xff\xfe not utf-8", "endpoint output is not JSON: "),
        (b"<html>502</html>", "endpoint output is not JSON: <html>502</html>"),
        (b'{"result": [0.5]}', 'endpoint output has no list of scores: {"result": [0.5]}'),
        (b'"just a string"', 'endpoint output has no list of scores: "just a string"'),
        (b'[0.5, {"label": "dog", "score": 0.4}]', "endpoint prediction needs a label and a score: [0.5, "),
        (b'[{"label": "dog"}]', 'endpoint prediction needs a label and a score: [{"label": "dog"}]'),
        (b'[{"score": 0.4}]', 'endpoint prediction needs a label and a score: [{"score": 0.4}]'),
        (
            b'[{"label": 7, "score": 0.4}]',
            'endpoint prediction needs a label and a score: [{"label": 7, "score": 0.4}]',
        ),
        (b'[{"label": "dog", "score": 0.4}, 0.5]', "endpoint prediction needs a label and a score: "),
    ],
)
def test_output_that_breaks_the_contract_is_a_backend_error(raw: bytes, message: str) -> None:
    with pytest.raises(BackendError) as caught:
        sagemaker.parse_output(raw, ("cat",))
    assert str(caught.value).startswith(message)


def test_the_class_name_count_must_match_the_probabilities() -> None:
    with pytest.raises(BackendError) as caught:
        sagemaker.parse_output(b"[0.5, 0.5]", ("cat",))
    assert str(caught.value) == (
        "endpoint returned 2 probabilities but 1 class names are configured in PHOTOSORT_SAGEMAKER_CLASS_NAMES; "
        "they must match the model's classes, in training order"
    )


def _sagemaker(max_labels: int = 2) -> sagemaker.SageMakerClassifier:
    client = boto3.client("sagemaker-runtime", region_name="us-east-1")
    limits = BackendLimits(max_labels=max_labels)
    return sagemaker.SageMakerClassifier(client, limits, endpoint_name="pets", class_names=["cat", "dog", "car"])


def test_a_model_error_names_the_containers_status_message_and_logs() -> None:
    full = client_error(
        "ModelError", "Received server error", OriginalStatusCode=500, OriginalMessage="CUDA OOM", LogStreamArn="arn:l"
    )
    assert str(_sagemaker()._map_error(full)) == "endpoint pets: the model returned status 500: CUDA OOM (logs: arn:l)"
    bare = client_error("ModelError", "Received server error")
    assert str(_sagemaker()._map_error(bare)) == (
        "endpoint pets: the model returned status ?: Received server error (logs: CloudWatch)"
    )
    assert type(_sagemaker()._map_error(bare)) is BackendError


def test_a_missing_endpoint_names_the_setting() -> None:
    error = _sagemaker()._map_error(client_error("ValidationError", "Endpoint pets of account 1 NOT FOUND."))
    assert type(error) is BackendUnavailableError
    assert str(error) == (
        "SageMaker endpoint pets was not found (Endpoint pets of account 1 NOT FOUND.); check "
        "PHOTOSORT_SAGEMAKER_ENDPOINT_NAME, the region, and that the endpoint is InService"
    )


def test_another_validation_error_is_a_backend_error_naming_the_action() -> None:
    error = _sagemaker()._map_error(client_error("ValidationError", "Body too large"))
    assert type(error) is BackendError
    assert str(error) == "sagemaker:InvokeEndpoint failed (ValidationError): Body too large"


def _input(fmt: str, data: bytes, size: tuple[int, int]) -> ImageInput:
    meta = ImageMetadata(format=fmt, width=size[0], height=size[1], mode="RGB")
    return ImageInput(ref=ObjectRef(bucket="b", key="k", size=len(data)), metadata=meta, fetch=lambda: data)


def _png(size: tuple[int, int]) -> bytes:
    out = BytesIO()
    Image.new("RGB", size, (1, 2, 3)).save(out, format="PNG")
    return out.getvalue()


def test_sagemaker_ranks_and_cuts_the_labels_and_names_the_variant() -> None:
    import json

    from botocore.response import StreamingBody

    classifier = _sagemaker(max_labels=2)
    data = _png((20, 10))
    raw = json.dumps([0.2, 0.5, 0.3]).encode()
    with Stubber(classifier._client) as stub:
        stub.add_response(
            "invoke_endpoint",
            {"Body": StreamingBody(BytesIO(raw), len(raw)), "InvokedProductionVariant": "blue"},
            {"EndpointName": "pets", "ContentType": "application/x-image", "Accept": "application/json", "Body": data},
        )
        result = classifier.classify(_input("PNG", data, (20, 10)))
    assert [(label.name, label.confidence) for label in result.labels] == [("dog", 50.0), ("car", 30.0)]
    assert (result.backend, result.model_version) == ("sagemaker", "pets/blue")


def test_sagemaker_errors_are_mapped_and_chained() -> None:
    classifier = _sagemaker()
    with Stubber(classifier._client) as stub:
        stub.add_client_error("invoke_endpoint", "ThrottlingException", "Rate exceeded")
        with pytest.raises(BackendThrottledError) as caught:
            classifier.classify(_input("PNG", _png((20, 10)), (20, 10)))
    assert isinstance(caught.value.__cause__, ClientError)
    assert "sagemaker:InvokeEndpoint" in str(caught.value)


def test_sagemaker_sends_a_jpeg_within_its_body_limit_for_other_formats() -> None:
    data = _png((20, 10))
    body = _sagemaker()._body(_input("WEBP", data, (20, 10)))  # declared WEBP: not a format it takes as is
    assert body.startswith(b"\xff\xd8\xff")
    assert _sagemaker()._body(_input("PNG", data, (20, 10))) == data


# -- Custom Labels ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("arn", "name"),
    [
        (ARN, "pets.v2"),
        ("arn:aws:rekognition:us-east-1:1:project/pets/version/v3", "v3"),
        (
            "arn:aws:rekognition:us-east-1:1:project/pets/version/",
            "arn:aws:rekognition:us-east-1:1:project/pets/version/",
        ),
        ("not-an-arn", "not-an-arn"),
    ],
)
def test_the_model_version_is_the_version_name_of_the_arn(arn: str, name: str) -> None:
    assert custom_labels.version_name(arn) == name


def _custom(max_labels: int = 3) -> custom_labels.CustomLabelsClassifier:
    client = boto3.client("rekognition", region_name="us-east-1")
    limits = BackendLimits(max_labels=max_labels, min_confidence=10.0)
    return custom_labels.CustomLabelsClassifier(client, limits, project_version_arn=ARN)


def test_custom_labels_are_clamped_deduplicated_ranked_and_cut() -> None:
    classifier = _custom(max_labels=3)
    meta = ImageMetadata(format="JPEG", width=800, height=600, mode="RGB")
    image = ImageInput(ref=ObjectRef(bucket="photos", key="k.jpg", size=1000), metadata=meta, fetch=bytes)
    response = {
        "CustomLabels": [
            {"Name": "sofa", "Confidence": 60.0},
            {"Name": "tabby", "Confidence": 100.5},  # above 100: clamped
            {"Name": "sofa", "Confidence": 50.0},  # a second box of a lower confidence: the best one stays
            {"Name": "lamp"},  # no confidence: 0
            {"Name": "rug", "Confidence": 20.0},
        ]
    }
    with Stubber(classifier._client) as stub:
        stub.add_response(
            "detect_custom_labels",
            response,
            {
                "ProjectVersionArn": ARN,
                "Image": {"S3Object": {"Bucket": "photos", "Name": "k.jpg"}},
                "MaxResults": 3,
                "MinConfidence": 10.0,
            },
        )
        result = classifier.classify(image)
    assert [(label.name, label.confidence) for label in result.labels] == [
        ("tabby", 100.0),
        ("sofa", 60.0),
        ("rug", 20.0),
    ]
    assert (result.backend, result.model_version) == ("custom-labels", "pets.v2")


def test_a_stopped_model_says_how_to_start_it() -> None:
    error = _custom()._map_error(client_error("ResourceNotReadyException", "not running"))
    assert type(error) is BackendUnavailableError
    assert str(error) == (
        f"Custom Labels model {ARN} is not running (ResourceNotReadyException). Start it with "
        f"`aws rekognition start-project-version --project-version-arn {ARN} --min-inference-units 1` "
        "and wait for RUNNING (it is billed per hour until stop-project-version)."
    )


def test_a_missing_model_version_names_the_setting_and_the_service_message() -> None:
    error = _custom()._map_error(client_error("ResourceNotFoundException", "no such version"))
    assert type(error) is BackendUnavailableError
    assert str(error).startswith(
        f"Custom Labels model version {ARN} was not found (ResourceNotFoundException: no such version). "
        "Check PHOTOSORT_CUSTOM_LABELS_PROJECT_VERSION_ARN and the region"
    )


def test_other_custom_labels_errors_name_their_action() -> None:
    error = _custom()._map_error(client_error("AccessDeniedException", "no"))
    assert type(error) is BackendUnavailableError and "rekognition:DetectCustomLabels" in str(error)


# -- enlarging a tiny image ------------------------------------------------------------------------------------------
def _jpeg(size: tuple[int, int]) -> bytes:
    out = BytesIO()
    Image.new("RGB", size, (200, 10, 10)).save(out, format="JPEG")
    return out.getvalue()


@pytest.mark.parametrize(
    ("size", "min_side", "max_side", "expected"),
    [
        ((20, 10), 80, 10_000, (160, 80)),
        ((10, 40), 64, 4096, (64, 256)),
        ((50, 2), 64, 1000, (1000, 64)),  # the long side stops at max_side
        ((7, 3), 64, 4096, (149, 64)),  # rounded, not truncated: 7 * 64 / 3 = 149.3
        ((5, 3), 64, 4096, (107, 64)),  # 5 * 64 / 3 = 106.7
    ],
)
def test_a_tiny_image_is_enlarged_to_the_minimum_side(
    size: tuple[int, int], min_side: int, max_side: int, expected: tuple[int, int]
) -> None:
    out = _aws_images._enlarge(_jpeg(size), min_side, max_side)
    with Image.open(BytesIO(out)) as img:
        assert (img.format, img.mode, img.size) == ("JPEG", "RGB", expected)
        red, green, _ = img.getpixel((img.width // 2, img.height // 2))
        assert red > 150 and green < 60  # the same picture, scaled


# -- create_backend hands each backend its settings ------------------------------------------------------------------
def _factory(services: list[str]) -> Any:
    def make(service: str) -> Any:
        services.append(service)
        return boto3.client(service, region_name="us-east-1")

    return make


LIMITS = {"max_labels": 7, "min_confidence": 61.0, "max_image_pixels": 12345}


def test_create_backend_builds_rekognition_with_the_limits() -> None:
    services: list[str] = []
    backend = create_backend(Settings(backend="rekognition", **LIMITS), _factory(services))
    assert backend._limits == BackendLimits(max_labels=7, min_confidence=61.0, max_pixels=12345)  # type: ignore[attr-defined]
    assert services == ["rekognition"]


def test_create_backend_builds_custom_labels_with_the_arn_and_limits() -> None:
    services: list[str] = []
    settings = Settings(backend="custom-labels", custom_labels_project_version_arn=ARN, **LIMITS)
    backend = create_backend(settings, _factory(services))
    assert backend._arn == ARN  # type: ignore[attr-defined]
    assert backend._limits == settings.backend_limits  # type: ignore[attr-defined]
    assert services == ["rekognition"]


def test_create_backend_builds_sagemaker_with_the_endpoint_classes_and_limits() -> None:
    services: list[str] = []
    settings = Settings(backend="sagemaker", sagemaker_endpoint_name="pets", sagemaker_class_names="cat, dog", **LIMITS)
    backend = create_backend(settings, _factory(services))
    assert backend._endpoint == "pets" and backend._class_names == ("cat", "dog")  # type: ignore[attr-defined]
    assert backend._limits == settings.backend_limits  # type: ignore[attr-defined]
    assert services == ["sagemaker-runtime"]


def test_create_backend_builds_the_local_model_with_the_variant_limits_and_head(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from photosort import fewshot
    from photosort.backends import local

    built: list[dict[str, Any]] = []

    class Fake:
        name = "local"

        def __init__(self, limits: BackendLimits, *, variant: str, head: Any) -> None:
            built.append({"limits": limits, "variant": variant, "head": head})

    monkeypatch.setattr(local, "LocalClassifier", Fake)
    services: list[str] = []

    create_backend(Settings(local_model_variant="int8", **LIMITS), _factory(services))
    settings = Settings(label_head="s3://b/heads/h.json", label_head_max_age=42)
    create_backend(settings, _factory(services))

    assert built[0] == {"limits": Settings(**LIMITS).backend_limits, "variant": "int8", "head": None}
    head = built[1]["head"]
    assert isinstance(head, fewshot.HeadSource) and built[1]["variant"] == "fp32"
    assert services == ["s3"]  # the head's own client, from the same factory
    assert (head.uri, head._max_age) == ("s3://b/heads/h.json", 42)


def test_a_named_score_out_of_range_quotes_the_output() -> None:
    with pytest.raises(BackendError) as caught:
        sagemaker.parse_output(b'[{"label": "dog", "score": 1.7}]', ())
    assert str(caught.value) == 'endpoint score 1.7 is not a number in 0-1; output: [{"label": "dog", "score": 1.7}]'


def test_custom_labels_without_a_confidence_count_as_zero_and_low_ones_are_kept() -> None:
    classifier = _custom(max_labels=5)
    meta = ImageMetadata(format="JPEG", width=800, height=600, mode="RGB")
    image = ImageInput(ref=ObjectRef(bucket="photos", key="k.jpg", size=1000), metadata=meta, fetch=bytes)
    response = {"CustomLabels": [{"Name": "lamp"}, {"Name": "rug", "Confidence": 0.5}]}
    with Stubber(classifier._client) as stub:
        stub.add_response("detect_custom_labels", response)
        result = classifier.classify(image)
    assert [(label.name, label.confidence) for label in result.labels] == [("rug", 0.5), ("lamp", 0.0)]
    with Stubber(classifier._client) as stub:
        stub.add_response("detect_custom_labels", {})
        assert classifier.classify(image).labels == ()


# -- Rekognition ------------------------------------------------------------------------------------------------------
def test_rekognition_labels_are_clamped_and_missing_fields_are_empty() -> None:
    from photosort.backends import rekognition

    labels = rekognition.labels_from_response(
        {"Labels": [{"Name": "Sky", "Confidence": 100.4}, {"Name": "Odd", "Confidence": -1.0}, {"Name": "Bare"}]}
    )
    assert [(label.name, label.confidence, label.parents, label.categories) for label in labels] == [
        ("Sky", 100.0, (), ()),
        ("Odd", 0.0, (), ()),
        ("Bare", 0.0, (), ()),
    ]
    assert rekognition.labels_from_response({}) == ()


def test_rekognition_names_an_unknown_model_version() -> None:
    from photosort.backends import rekognition

    client = boto3.client("rekognition", region_name="us-east-1")
    classifier = rekognition.RekognitionClassifier(client, BackendLimits(max_labels=3))
    meta = ImageMetadata(format="JPEG", width=800, height=600, mode="RGB")
    image = ImageInput(ref=ObjectRef(bucket="photos", key="k.jpg", size=1000), metadata=meta, fetch=bytes)
    with Stubber(client) as stub:
        stub.add_response("detect_labels", {"Labels": []})
        result = classifier.classify(image)
    assert (result.model_version, result.labels) == ("unknown", ())


# -- call_with_image for a local file, and fit_jpeg's boundaries -------------------------------------------------------
def _local(fmt: str, data: bytes, size: tuple[int, int]) -> ImageInput:
    meta = ImageMetadata(format=fmt, width=size[0], height=size[1], mode="RGB")
    return ImageInput(
        ref=ObjectRef(bucket="b", key="k", size=len(data)), metadata=meta, fetch=lambda: data, in_s3=False
    )


LIMITS_100 = _aws_images.ImageLimits(max_object_bytes=10**6, max_inline_bytes=10**6, min_side=16, max_side=4096)


def test_a_local_file_the_service_takes_goes_as_its_own_bytes() -> None:
    data = _jpeg((100, 80))
    sent: list[dict[str, Any]] = []
    answer = _aws_images.call_with_image(
        lambda image: sent.append(image) or {"ok": 1}, _local("JPEG", data, (100, 80)), LIMITS_100,
        max_pixels=10**6, map_error=lambda exc: RuntimeError(str(exc)),
    )  # fmt: skip
    assert answer == {"ok": 1} and sent == [{"Bytes": data}]


def test_a_local_file_exactly_at_the_inline_limit_goes_as_it_is_and_one_byte_over_is_converted() -> None:
    data = _noise((100, 80))
    at = _aws_images.ImageLimits(max_object_bytes=len(data), max_inline_bytes=len(data), min_side=16, max_side=4096)
    sent: list[dict[str, Any]] = []
    call = lambda image: sent.append(image) or {}  # noqa: E731
    _aws_images.call_with_image(call, _local("PNG", data, (100, 80)), at, max_pixels=10**6, map_error=RuntimeError)
    over = _aws_images.ImageLimits(max_object_bytes=10**6, max_inline_bytes=len(data) - 1, min_side=16, max_side=4096)
    _aws_images.call_with_image(call, _local("PNG", data, (100, 80)), over, max_pixels=10**6, map_error=RuntimeError)
    assert sent[0] == {"Bytes": data}
    assert sent[1]["Bytes"] == _aws_images.fit_jpeg(data, over, max_pixels=10**6)


def test_a_local_file_in_another_format_is_converted_and_errors_are_mapped() -> None:
    data = _png((100, 80))
    sent: list[dict[str, Any]] = []

    def refuse(image: dict[str, Any]) -> dict[str, Any]:
        sent.append(image)
        raise client_error("ThrottlingException", "slow")

    with pytest.raises(BackendThrottledError) as caught:
        _aws_images.call_with_image(
            refuse, _local("WEBP", data, (100, 80)), LIMITS_100, max_pixels=10**6,
            map_error=lambda exc: _aws_errors.map_client_error(exc, action=ACTION),
        )  # fmt: skip
    assert sent == [{"Bytes": _aws_images.fit_jpeg(data, LIMITS_100, max_pixels=10**6)}]
    assert sent[0]["Bytes"].startswith(b"\xff\xd8\xff") and "ThrottlingException" in str(caught.value)


def test_fit_jpeg_applies_the_pixel_limit() -> None:
    from photosort.errors import ImageUnusableError as Unusable

    with pytest.raises(Unusable) as caught:
        _aws_images.fit_jpeg(_png((100, 80)), LIMITS_100, max_pixels=7999)
    assert caught.value.reason is RejectionReason.DECOMPRESSION_BOMB


def test_fit_jpeg_stops_shrinking_as_soon_as_the_jpeg_fits() -> None:
    from photosort.imaging import to_jpeg

    data = _noise((200, 200))
    first = to_jpeg(data, max_side=200)
    exact = _aws_images.ImageLimits(max_object_bytes=10**6, max_inline_bytes=len(first), min_side=16, max_side=200)
    assert _aws_images.fit_jpeg(data, exact, max_pixels=10**6) == first  # exactly at the limit: no shrinking


def test_fit_jpeg_may_shrink_down_to_exactly_the_minimum_side() -> None:
    from photosort.imaging import to_jpeg

    data = _noise((100, 100))
    at_80 = to_jpeg(to_jpeg(data, max_side=100), max_side=80)
    limits = _aws_images.ImageLimits(max_object_bytes=10**6, max_inline_bytes=len(at_80), min_side=80, max_side=100)
    out = _aws_images.fit_jpeg(data, limits, max_pixels=10**6)
    with Image.open(BytesIO(out)) as img:
        assert img.size == (80, 80)


def test_fit_jpeg_leaves_an_image_at_the_minimum_side_as_it_is() -> None:
    from photosort.imaging import to_jpeg

    data = _png((64, 100))
    limits = _aws_images.ImageLimits(max_object_bytes=10**6, max_inline_bytes=10**6, min_side=64, max_side=4096)
    assert _aws_images.fit_jpeg(data, limits, max_pixels=10**6) == to_jpeg(data, max_side=4096)


def test_fit_jpeg_caps_the_long_side_at_the_smaller_of_the_limit_and_4096() -> None:
    limits = _aws_images.ImageLimits(max_object_bytes=10**6, max_inline_bytes=10**6, min_side=1, max_side=50)
    with Image.open(BytesIO(_aws_images.fit_jpeg(_png((100, 80)), limits, max_pixels=10**6))) as img:
        assert img.size == (50, 40)


def test_enlarging_is_a_lanczos_resize_saved_at_quality_90() -> None:
    data = _noise((20, 10))
    expected = BytesIO()
    with Image.open(BytesIO(data)) as img:
        img.convert("RGB").resize((160, 80), Image.Resampling.LANCZOS).save(expected, format="JPEG", quality=90)
    assert _aws_images._enlarge(data, 80, 10_000) == expected.getvalue()


def _noise(size: tuple[int, int]) -> bytes:
    img = Image.new("RGB", size)
    img.putdata(
        [((x * 37 + y * 11) % 256, (x * y) % 256, (x ^ y) % 256) for y in range(size[1]) for x in range(size[0])]
    )
    out = BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def test_a_named_score_below_one_percent_is_kept() -> None:
    assert sagemaker.parse_output(b'[{"label": "dog", "score": 0.004}]', ()) == pytest.approx({"dog": 0.4})


def test_create_backend_builds_bedrock_on_the_rules_parameter_with_its_image_source() -> None:
    from moto import mock_aws

    from photosort.backends import bedrock

    rules = '{"rules": [{"album": "zoo", "labels": ["Zebra"]}]}'
    with mock_aws():
        ssm = boto3.client("ssm", region_name="us-east-1")
        ssm.put_parameter(Name="/photosort/rules", Value=rules, Type="String")
        settings = Settings(
            backend="bedrock", rules_parameter="/photosort/rules", rules_max_age=0, bedrock_image_source="s3", **LIMITS
        )
        backend = create_backend(settings, _factory([]))
        assert isinstance(backend, bedrock.BedrockClassifier)
        assert tuple(backend._labels()) == ("Zebra",)  # the parameter's rules, not the default preset
        ssm.put_parameter(Name="/photosort/rules", Value=rules.replace("Zebra", "Okapi"), Type="String", Overwrite=True)
        assert tuple(backend._labels()) == ("Okapi",)  # max_age 0: a changed parameter is read again
    assert backend._image_source == "s3" and backend._model_id == settings.bedrock_model_id
    assert backend._limits == settings.backend_limits


def test_an_image_exactly_at_each_service_limit_goes_as_it_is() -> None:
    limits = _aws_images.ImageLimits(max_object_bytes=1000, max_inline_bytes=1000, min_side=80, max_side=4096)

    def image(fmt: str, width: int, height: int) -> ImageInput:
        meta = ImageMetadata(format=fmt, width=width, height=height, mode="RGB")
        return ImageInput(ref=ObjectRef(bucket="photos", key="k", size=1000), metadata=meta, fetch=bytes)

    assert _aws_images.usable_as_is(image("JPEG", 80, 4096), limits, 1000)
    assert _aws_images.usable_as_is(image("PNG", 4096, 80), limits, 1000)
    assert not _aws_images.usable_as_is(image("JPEG", 80, 4096), limits, 1001)
    assert not _aws_images.usable_as_is(image("JPEG", 79, 4096), limits, 1000)
    assert not _aws_images.usable_as_is(image("JPEG", 80, 4097), limits, 1000)
    assert not _aws_images.usable_as_is(image("WEBP", 100, 100), limits, 10)

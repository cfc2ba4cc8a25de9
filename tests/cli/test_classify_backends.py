"""``photosort classify --backend ...`` on local files: every backend, the AWS credential chain and region,
``--endpoint-url`` (a real HTTP moto server in this process), and one-line errors that name the fix."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto.server import ThreadedMotoServer

from photosort.backends.bedrock import TOOL_NAME
from photosort_local import bedrock_adapter, file_backends
from photosort_local.bedrock_adapter import tool_answer
from photosort_local.samples import find_sample

ARN = "arn:aws:rekognition:us-east-1:123456789012:project/pets/version/pets.1/1714557600000"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    bedrock_adapter.install()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(autouse=True)
def _fresh_sessions() -> Iterator[None]:
    file_backends._sessions.clear()  # each test sets its own credential environment
    yield
    file_backends._sessions.clear()


def test_rekognition_through_endpoint_url(cli: Any, endpoint: str) -> None:
    run = cli("classify", str(find_sample("chelsea")), "--backend", "rekognition", "--endpoint-url", endpoint, "--json")
    assert run.code == 0, run.err
    doc = json.loads(run.out)
    assert doc["backend"] == "rekognition" and doc["labels"]  # moto's canned DetectLabels answer, over HTTP


def test_bedrock_through_endpoint_url_answers_in_the_rules_vocabulary(cli: Any, endpoint: str, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - album: cats\n    labels: [Cat]\n  - album: dogs\n    labels: [Dog]\n")
    seen: list[dict[str, Any]] = []

    def respond(request: dict[str, Any]) -> dict[str, Any]:
        seen.append(request)
        return tool_answer(TOOL_NAME, [("Cat", "certain")])

    bedrock_adapter.set_responder(respond)
    try:
        run = cli(
            "classify", str(find_sample("chelsea")), "--backend", "bedrock", "--rules", str(rules),
            "--endpoint-url", endpoint, "--model-id", "us.amazon.nova-lite-v1:0", "--json",
        )  # fmt: skip
    finally:
        bedrock_adapter.set_responder(None)
    assert run.code == 0, run.err
    doc = json.loads(run.out)
    assert doc["labels"] == [{"name": "Cat", "confidence": 95.0}] and doc["model_version"] == "us.amazon.nova-lite-v1:0"
    schema = seen[0]["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"]
    assert schema["properties"]["labels"]["items"]["properties"]["label"]["enum"] == ["Cat", "Dog"]
    assert seen[0]["messages"][0]["content"][0]["image"]["source"]["bytes"] == find_sample("chelsea").read_bytes()


def _no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)


@pytest.mark.parametrize("backend", ["rekognition", "bedrock"])
def test_missing_credentials_is_one_line_naming_the_fix(
    cli: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, backend: str
) -> None:
    _no_credentials(monkeypatch, tmp_path)
    run = cli("classify", str(find_sample("chelsea")), "--backend", backend)
    assert run.code == 1 and run.out == ""
    assert run.err.count("\n") == 1 and "aws configure" in run.err and "AWS_ACCESS_KEY_ID" in run.err


def test_missing_region_is_one_line_naming_the_fix(cli: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    run = cli("classify", str(find_sample("chelsea")), "--backend", "rekognition")
    assert run.code == 1 and run.err.count("\n") == 1 and "--region" in run.err


@pytest.mark.parametrize(
    ("backend", "fix"), [("custom-labels", "--project-version-arn"), ("sagemaker", "--endpoint-name")]
)
def test_a_backend_without_its_model_names_the_option(cli: Any, backend: str, fix: str) -> None:
    run = cli("classify", str(find_sample("chelsea")), "--backend", backend)
    assert run.code == 1 and run.err.count("\n") == 1 and fix in run.err


def _stub_sessions(monkeypatch: pytest.MonkeyPatch, service: str) -> Stubber:
    """Every client the CLI builds for ``service`` is this one stubbed client (the Stubber checks the request)."""
    client = boto3.session.Session(region_name="us-east-1").client(service)  # type: ignore[call-overload]
    real = boto3.session.Session.client
    monkeypatch.setattr(
        boto3.session.Session,
        "client",
        lambda self, name, **kw: client if name == service else real(self, name, **kw),
    )
    stub = Stubber(client)
    stub.activate()
    return stub


def test_custom_labels_model_not_running_names_the_start_command(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    stub = _stub_sessions(monkeypatch, "rekognition")
    stub.add_client_error("detect_custom_labels", service_error_code="ResourceNotReadyException", service_message="x")
    run = cli("classify", str(find_sample("chelsea")), "--backend", "custom-labels", "--project-version-arn", ARN)
    assert run.code == 1 and run.err.count("\n") == 1
    assert "is not running" in run.err and f"start-project-version --project-version-arn {ARN}" in run.err


def test_custom_labels_gets_image_bytes_as_they_are(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    data = find_sample("chelsea").read_bytes()  # a PNG under 4 MB: sent unconverted
    stub = _stub_sessions(monkeypatch, "rekognition")
    stub.add_response(
        "detect_custom_labels",
        {"CustomLabels": [{"Name": "tabby", "Confidence": 91.5}]},
        {"ProjectVersionArn": ARN, "Image": {"Bytes": data}, "MaxResults": 20, "MinConfidence": 55.0},
    )
    run = cli("classify", str(find_sample("chelsea")), "--backend", "custom-labels", "--project-version-arn", ARN)
    assert run.code == 0, run.err
    assert "tabby" in run.out and "91.5%" in run.out
    stub.assert_no_pending_responses()


def test_rekognition_converts_what_detect_labels_cannot_take(
    cli: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from PIL import Image

    tiff = tmp_path / "scan.tiff"
    Image.open(find_sample("coffee")).save(tiff, format="TIFF")
    seen: list[dict[str, Any]] = []
    stub = _stub_sessions(monkeypatch, "rekognition")
    stub.add_response("detect_labels", {"Labels": [{"Name": "Cup", "Confidence": 88.0}], "LabelModelVersion": "3.0"})
    client = boto3.session.Session().client("rekognition")
    client.meta.events.register(
        "provide-client-params.rekognition.DetectLabels", lambda params, **_: seen.append(params)
    )
    run = cli("classify", str(tiff), "--backend", "rekognition")
    assert run.code == 0, run.err
    assert "Cup" in run.out
    sent = seen[0]["Image"]
    assert set(sent) == {"Bytes"} and sent["Bytes"][:3] == b"\xff\xd8\xff"  # converted to JPEG, no S3Object


def test_sagemaker_endpoint_not_found_names_the_check(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    stub = _stub_sessions(monkeypatch, "sagemaker-runtime")
    stub.add_client_error(
        "invoke_endpoint", service_error_code="ValidationError", service_message="Endpoint pets of account x not found."
    )
    run = cli("classify", str(find_sample("chelsea")), "--backend", "sagemaker", "--endpoint-name", "pets")
    assert run.code == 1 and run.err.count("\n") == 1 and "InService" in run.err


def test_a_local_endpoint_needs_no_credentials_or_region(
    cli: Any, endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _no_credentials(monkeypatch, tmp_path)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    run = cli("classify", str(find_sample("chelsea")), "--backend", "rekognition", "--endpoint-url", endpoint, "--json")
    assert run.code == 0, run.err
    assert json.loads(run.out)["backend"] == "rekognition"

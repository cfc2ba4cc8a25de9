"""``sam local invoke`` against ``photosort local serve``: SAM CLI's own env-var resolution on the template.

Docker is not available here, so the container never starts; everything up to it does: SAM CLI reads the
template, resolves its intrinsics with the parameter overrides, applies Globals, and merges the template's,
the shell's and the ``--env-vars`` file's values exactly as ``sam local invoke`` would.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import unquote_plus

import boto3
import pytest
from moto import mock_aws

from photosort import pipeline
from photosort.models import ObjectRef
from photosort.settings import Settings
from photosort_local import server
from tests.local.sam_local_env import resolved_env

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
PORT = 5123
BANNER_SHELL = {  # what the banner's export line puts in the shell
    "AWS_ENDPOINT_URL": f"http://127.0.0.1:{PORT}",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@contextmanager
def printed_files(folder: Path) -> Iterator[tuple[Path, Path, Any]]:
    """The env file and event that ``local serve`` prints, written by the same function, for a moto bucket."""
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="photosort-photobucket-local")
        stack = SimpleNamespace(
            table="photosort-PhotoTable-LOCAL", bucket="photosort-photobucket-local", parameters={}, s3=s3
        )
        env_file, event_file = server._write_sam_files(stack, PORT, folder)  # type: ignore[arg-type]
        yield env_file, event_file, s3


@pytest.fixture
def printed(tmp_path: Path) -> Iterator[tuple[Path, Path, Any]]:
    with printed_files(tmp_path) as files:
        yield files


def check_built_template(built: Path, folder: Path) -> None:
    """Called by tests/static/test_linters.py on the template `sam build` wrote (one build per session)."""
    with printed_files(folder) as (env_file, _event, _s3):
        check_printed_env_reaches_the_local_stack(built, env_file)


def check_printed_env_reaches_the_local_stack(template: Path, env_file: Path) -> None:
    """With the banner's export in the shell, the function still gets the Docker-reachable endpoint."""
    env = resolved_env(template, "ClassifyFunction", env_file=env_file, shell=BANNER_SHELL)
    assert env["AWS_ENDPOINT_URL"] == f"http://host.docker.internal:{PORT}"
    assert env["PHOTOSORT_TABLE_NAME"] == "photosort-PhotoTable-LOCAL"
    assert env["AWS_ACCESS_KEY_ID"] == "testing" and env["AWS_DEFAULT_REGION"] == "us-east-1"


def test_printed_env_file_reaches_the_local_stack_from_docker(printed: tuple[Path, Path, Any]) -> None:
    check_printed_env_reaches_the_local_stack(TEMPLATE, printed[0])


@pytest.mark.parametrize("function", ["ClassifyFunction", "RecordFunction", "SortFunction"])
def test_the_parameter_override_reaches_every_function(function: str) -> None:
    """`--parameter-overrides LocalEndpointUrl=...` alone works too (it was blanked by an `!If` with NoValue)."""
    endpoint = f"http://host.docker.internal:{PORT}"
    env = resolved_env(TEMPLATE, function, parameter_overrides={"LocalEndpointUrl": endpoint})
    assert env["AWS_ENDPOINT_URL"] == endpoint


def test_on_aws_the_endpoint_is_empty_which_botocore_ignores() -> None:
    env = resolved_env(TEMPLATE, "ClassifyFunction")
    assert env["AWS_ENDPOINT_URL"] == ""
    client = boto3.client("s3", region_name="us-east-1", endpoint_url=None)
    assert client.meta.endpoint_url.startswith("https://s3.")


def test_printed_event_names_an_object_that_exists_and_no_rule_sorts(printed: tuple[Path, Path, Any]) -> None:
    _env_file, event_file, s3 = printed
    event = json.loads(event_file.read_text())
    obj = event["detail"]["object"]
    key = unquote_plus(obj["key"])
    assert not key.startswith("incoming/")  # the rule watches incoming/ only: nothing moves it away first
    head = s3.head_object(Bucket=event["detail"]["bucket"]["name"], Key=key)
    assert head["ContentLength"] == obj["size"] and head["ETag"].strip('"') == obj["etag"]
    ref = ObjectRef(bucket=event["detail"]["bucket"]["name"], key=obj["key"], size=obj["size"], etag=obj["etag"])
    inspection = pipeline.inspect(s3, ref, datetime.now(UTC), Settings.from_env({}))
    assert inspection.usable and not inspection.gone

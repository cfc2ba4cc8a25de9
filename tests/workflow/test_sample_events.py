"""Every sample event in events/ runs through its handler (as `sam local invoke -e events/<file>` would),
invoked through the Lambda API of the embedded stack."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from photosort import constants
from photosort_local.samples import find_sample
from photosort_local.stack import EmbeddedStack

EVENTS = Path(__file__).resolve().parents[2] / "events"
EXAMPLE_BUCKET = "photosort-example-bucket"
PLAIN_KEY = "incoming/family trip/Chelsea +1 café.png"


@pytest.fixture(scope="module")
def stack() -> Iterator[EmbeddedStack]:
    with EmbeddedStack(stack_name="events") as running:
        # Invoke the functions one by one, as a developer does with `sam local invoke`: no rule-driven runs.
        events = running.client("events")
        for rule in events.list_rules()["Rules"]:
            events.disable_rule(Name=rule["Name"])
        yield running


def load(name: str, bucket: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text(encoding="utf-8").replace(EXAMPLE_BUCKET, bucket))


def invoke(stack: EmbeddedStack, function: str, event: dict[str, Any]) -> dict[str, Any]:
    response = stack.client("lambda").invoke(
        FunctionName=stack.outputs[f"{function}FunctionName"], Payload=json.dumps(event).encode()
    )
    payload = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, payload
    return payload


def test_each_step_runs_its_sample_event(stack: EmbeddedStack) -> None:
    stack.s3.put_object(Bucket=stack.bucket, Key=PLAIN_KEY, Body=find_sample("chelsea").read_bytes())
    record_event = load("record.json", stack.bucket)

    analysis = invoke(stack, "Classify", load("s3_object_created.json", stack.bucket))  # inspects, then labels
    inspection, classification = analysis["inspection"], analysis["classification"]
    assert inspection["usable"] and inspection["object"]["key"] == PLAIN_KEY
    assert inspection["sha256"] == record_event["inspection"]["sha256"]  # the sample events describe this photo
    assert {"Cat", "Animal"} <= {label["name"] for label in classification["labels"]}
    assert analysis["backend_rejection"] is None

    decision = invoke(stack, "Record", record_event)
    assert decision["status"] == "sorted" and decision["destination_key"].startswith("albums/pets/")

    sort_event = load("sort.json", stack.bucket)
    moved = invoke(stack, "Sort", sort_event)
    assert moved["moved"] and moved["destination_key"] == sort_event["decision"]["destination_key"]


def test_quarantine_sample_event(stack: EmbeddedStack) -> None:
    stack.s3.put_object(Bucket=stack.bucket, Key=PLAIN_KEY, Body=find_sample("chelsea").read_bytes())

    decision = invoke(stack, "Quarantine", load("quarantine.json", stack.bucket))

    assert decision["status"] == "failed" and decision["destination_key"].startswith("failed/family trip/")
    assert decision["reason"].startswith("BackendUnavailableError: Custom Labels model is not running")


def test_env_vars_file_uses_known_functions_and_variables() -> None:
    env = json.loads((EVENTS / "env.json").read_text())
    known = {v for k, v in vars(constants).items() if k.isupper() and isinstance(v, str) and v.startswith("PHOTOSORT_")}
    for scope, variables in env.items():
        assert scope in {
            "Parameters",
            "ClassifyFunction",
            "RecordFunction",
            "SortFunction",
            "QuarantineFunction",
        }
        photosort_vars = {name for name in variables if name.startswith("PHOTOSORT_")}
        assert photosort_vars <= known, photosort_vars - known

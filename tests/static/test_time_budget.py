"""The workflow's worst case (attempts x timeout + backoff, on every path) fits the Express 5-minute limit."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from photosort_local import time_budget
from photosort_local.sam import load_sam_template as read_template

REPO = Path(__file__).resolve().parents[2]
ASL = json.loads((REPO / "statemachine" / "sort_photo.asl.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def timeouts() -> dict[str, float]:
    return time_budget.function_timeouts(read_template(REPO / "template.yaml"))


def test_every_task_has_a_template_timeout(timeouts: dict[str, float]) -> None:
    costs = time_budget.state_costs(ASL, timeouts)
    tasks = {name for name, state in ASL["States"].items() if state["Type"] == "Task"}
    assert set(costs) == tasks


def test_worst_path_fits_the_express_limit_with_a_margin(timeouts: dict[str, float]) -> None:
    total, path, costs = time_budget.worst_path(ASL, timeouts)
    detail = ", ".join(f"{s} {costs[s].worst_s:.0f}s" for s in path if s in costs)
    assert total <= time_budget.EXPRESS_LIMIT_S - time_budget.MARGIN_S, f"{total:.0f}s on {detail}"
    assert "Quarantine" in path  # the longest path is a failure that still reaches Quarantine


def test_the_budget_catches_a_retrier_that_outlasts_the_limit(timeouts: dict[str, float]) -> None:
    # The retriers as they were before this budget existed: 4 Lambda.Unknown retries of a 60 s Classify.
    asl = copy.deepcopy(ASL)
    asl["States"]["Classify"]["Retry"].append({"ErrorEquals": ["Lambda.Unknown"], "MaxAttempts": 4})
    total, _path, _costs = time_budget.worst_path(asl, {**timeouts, "ClassifyFunctionArn": 60})
    assert total > time_budget.EXPRESS_LIMIT_S


def test_backoff_is_capped_by_max_delay() -> None:
    retrier = {"IntervalSeconds": 1, "BackoffRate": 2, "MaxAttempts": 6, "MaxDelaySeconds": 4}
    assert time_budget.backoff_s(retrier) == 1 + 2 + 4 + 4 + 4 + 4


def test_refused_invocations_cost_no_timeout() -> None:
    state = {"Retry": [{"ErrorEquals": ["Lambda.TooManyRequestsException"], "MaxAttempts": 3, "IntervalSeconds": 1}]}
    cost = time_budget.task_cost("X", state, 10)
    assert (cost.running_attempts, cost.refused_attempts) == (1, 3)
    unknown = time_budget.task_cost("X", {"Retry": [{"ErrorEquals": ["Lambda.Unknown"], "MaxAttempts": 2}]}, 10)
    assert unknown.running_attempts == 3


LAMBDA_SERVICE_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Lambda.ClientExecutionTimeoutException",
}


@pytest.mark.parametrize("state", [n for n, s in ASL["States"].items() if s["Type"] == "Task"])
def test_every_lambda_task_retries_aws_recommended_errors(state: str) -> None:
    retried = {e for r in ASL["States"][state].get("Retry", []) for e in r["ErrorEquals"]}
    assert retried >= LAMBDA_SERVICE_ERRORS, LAMBDA_SERVICE_ERRORS - retried


def test_no_pass_state_uses_a_null_result() -> None:
    # Engines disagree on "Result": null (one passes the whole input through); a static null in Parameters is
    # run the same by all of them.
    for name, state in ASL["States"].items():
        if state["Type"] == "Pass":
            assert state.get("Result", "absent") is not None, name
    assert not [name for name, state in ASL["States"].items() if state["Type"] == "Pass"]  # none left: Classify
    # returns a null classification itself for an unusable upload

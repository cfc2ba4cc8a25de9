"""The workflow's worst-case duration, computed from the ASL and the template's function timeouts.

An Express execution that reaches its 5-minute limit is simply ended by AWS: no Catch runs, Quarantine never
sees the photo, and it stays under ``incoming/``. So every path through ``sort_photo.asl.json`` must finish
within the limit even when every Task spends all its retries:

* an attempt that ran the function costs up to the function's ``Timeout`` (the first attempt, and every retry
  of an error a running function produces: ``Lambda.Unknown`` for a timeout or crash,
  ``Lambda.ClientExecutionTimeoutException``, photosort's own errors);
* an attempt the Lambda service refused before running the function (throttled, or a service-side failure to
  invoke) costs at most ``REFUSED_ATTEMPT_S``;
* each retry waits at most ``min(IntervalSeconds * BackoffRate ** (n - 1), MaxDelaySeconds)`` (FULL jitter only
  shortens it).

Retriers count independently (AWS keeps one attempt counter per retrier), so the worst case adds them all up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

EXPRESS_LIMIT_S = 300
MARGIN_S = 30  # at least this much of the 5 minutes stays unused on the longest path
REFUSED_ATTEMPT_S = 1.0
# Errors the Lambda service returns without running the function to its timeout.
REFUSED_ERRORS = frozenset(
    {
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.TooManyRequestsException",
    }
)


@dataclass(frozen=True)
class StateCost:
    state: str
    timeout_s: float
    running_attempts: int
    refused_attempts: int
    backoff_s: float

    @property
    def worst_s(self) -> float:
        return self.running_attempts * self.timeout_s + self.refused_attempts * REFUSED_ATTEMPT_S + self.backoff_s


def backoff_s(retrier: dict[str, Any]) -> float:
    """The longest total wait of one retrier: every attempt's interval, capped by MaxDelaySeconds."""
    interval = float(retrier.get("IntervalSeconds", 1))
    rate = float(retrier.get("BackoffRate", 2.0))
    cap = float(retrier.get("MaxDelaySeconds", float("inf")))
    return sum(min(interval * rate**n, cap) for n in range(int(retrier.get("MaxAttempts", 3))))


def task_cost(name: str, state: dict[str, Any], timeout_s: float) -> StateCost:
    running, refused, wait = 1, 0, 0.0  # the first attempt runs the function
    for retrier in state.get("Retry", []):
        attempts = int(retrier.get("MaxAttempts", 3))
        if "States.ALL" in retrier["ErrorEquals"] or not set(retrier["ErrorEquals"]) <= REFUSED_ERRORS:
            running += attempts
        else:
            refused += attempts
        wait += backoff_s(retrier)
    return StateCost(name, timeout_s, running, refused, wait)


def function_timeouts(template: dict[str, Any]) -> dict[str, float]:
    """{DefinitionSubstitutions name: the function's Timeout} for the state machine's Lambda tasks."""
    default = float(template.get("Globals", {}).get("Function", {}).get("Timeout", 3))
    resources = template["Resources"]
    out: dict[str, float] = {}
    for res in resources.values():
        if res.get("Type") != "AWS::Serverless::StateMachine":
            continue
        for sub, value in res["Properties"].get("DefinitionSubstitutions", {}).items():
            target = value.get("Fn::GetAtt") if isinstance(value, dict) else None
            if isinstance(target, str):
                target = target.split(".")
            if not target or target[1] != "Arn":
                continue
            fn = resources[target[0]]
            out[sub] = float(fn.get("Properties", {}).get("Timeout", default))
    return out


def _successors(state: dict[str, Any]) -> list[str]:
    nxt = [state["Next"]] if "Next" in state else []
    nxt += [c["Next"] for c in state.get("Choices", [])]
    nxt += [state["Default"]] if "Default" in state else []
    nxt += [c["Next"] for c in state.get("Catch", [])]
    return list(dict.fromkeys(nxt))


def state_costs(asl: dict[str, Any], timeouts: dict[str, float]) -> dict[str, StateCost]:
    costs = {}
    for name, state in asl["States"].items():
        if state["Type"] == "Task":
            sub = state["Resource"].removeprefix("${").removesuffix("}")
            if sub not in timeouts:
                raise ValueError(f"state {name}: no function timeout for resource {state['Resource']}")
            costs[name] = task_cost(name, state, timeouts[sub])
    return costs


def paths(asl: dict[str, Any]) -> list[list[str]]:
    """Every path from StartAt to an end state (the workflow has no loops; a loop is an error here)."""
    found: list[list[str]] = []

    def walk(name: str, trail: list[str]) -> None:
        if name in trail:
            raise ValueError(f"loop through {name}: the budget needs an acyclic workflow")
        trail = [*trail, name]
        nxt = _successors(asl["States"][name])
        if not nxt:
            found.append(trail)
        for n in nxt:
            walk(n, trail)

    walk(asl["StartAt"], [])
    return found


def worst_path(asl: dict[str, Any], timeouts: dict[str, float]) -> tuple[float, list[str], dict[str, StateCost]]:
    """(worst-case seconds, the path, per-state costs) over every path of the workflow."""
    costs = state_costs(asl, timeouts)
    scored = [(sum(costs[s].worst_s for s in path if s in costs), path) for path in paths(asl)]
    total, path = max(scored, key=lambda item: item[0])
    return total, path, costs

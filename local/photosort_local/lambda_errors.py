"""moto 5.2.5 adapter: Step Functions names Lambda failures the way AWS does.

What moto does: its ASL engine names every failed Lambda Invoke API call (a ``ClientError`` such as a throttle)
``Exception``, and a function error whose payload has no ``errorType`` (a timeout, a crashed runtime) also
``Exception``. What AWS does: the API error becomes ``Lambda.<error code>`` (``Lambda.TooManyRequestsException``,
``Lambda.ServiceException``...), and an untyped function error is ``Lambda.Unknown``. Without this, none of the
workflow's ``Lambda.*`` retriers is ever exercised here.

It also turns :class:`~photosort_local.lambda_runner.Throttled` from the in-process runner into the Invoke API's
``TooManyRequestsException`` (HTTP 429), as the Lambda service answers a throttled invocation.
"""

from __future__ import annotations

import json
from typing import Any

from photosort_local.moto_pin import patch_once


def aws_error_name(payload: str | None, client_error_code: str | None) -> str:
    """The error name AWS Step Functions reports for a failed Lambda task."""
    if client_error_code is not None:
        return f"Lambda.{client_error_code}"
    try:
        typed = json.loads(payload or "").get("errorType")
    except (ValueError, AttributeError):
        typed = None
    return typed if isinstance(typed, str) and typed else "Lambda.Unknown"


@patch_once("the Lambda error-name adapters")
def install() -> None:
    _patch_throttle()
    _patch_error_names()


def _patch_throttle() -> None:
    from moto.awslambda.exceptions import LambdaClientError
    from moto.awslambda.models import LambdaFunction

    from photosort_local.lambda_runner import Throttled

    class TooManyRequests(LambdaClientError):  # type: ignore[misc]
        code = 429

        def __init__(self, message: str) -> None:
            super().__init__("TooManyRequestsException", message)

    invoke = LambdaFunction.invoke

    def throttling_invoke(self: Any, body: str, request_headers: Any, response_headers: Any) -> Any:
        try:
            return invoke(self, body, request_headers, response_headers)
        except Throttled as exc:
            raise TooManyRequests(str(exc)) from exc

    LambdaFunction.invoke = throttling_invoke


def _patch_error_names() -> None:
    from botocore.exceptions import ClientError
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import StateTaskLambda

    original = StateTaskLambda._from_error

    def _from_error(self: Any, env: Any, ex: Exception) -> Any:
        event = original(self, env, ex)
        code = ex.response.get("Error", {}).get("Code") if isinstance(ex, ClientError) else None
        if code is None and not isinstance(ex, lambda_eval_utils.LambdaFunctionErrorException):
            return event
        payload = ex.payload if isinstance(ex, lambda_eval_utils.LambdaFunctionErrorException) else None
        name = aws_error_name(payload, code)
        event.error_name = CustomErrorName(name)
        details = event.event_details.get("lambdaFunctionFailedEventDetails") if event.event_details else None
        if details is not None:
            details["error"] = name
        return event

    StateTaskLambda._from_error = _from_error

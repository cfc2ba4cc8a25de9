"""Bedrock Runtime ``Converse`` for the embedded stack (moto 5.2.5 implements only ``InvokeModel``, which
returns ``{}``).

moto has no models, so this adapter does not pretend to be one: :func:`install` adds a ``Converse`` route
that validates the request the way Bedrock does for what photosort sends (a model id, one user message with
one image and text, a tool config whose ``toolChoice`` names a defined tool, an image as bytes or as an S3
location that must exist) and hands it to a *responder* you set with :func:`set_responder`. A responder gets
the request (with S3 images resolved to bytes) and returns a Converse response, or raises
:class:`ConverseError` to answer with a service error. Tests use recorded answers; :func:`tool_answer`
builds the response shape Bedrock returns for a forced tool call.

What AWS does differently, not modelled here: the model itself (its answers, its latency), token
accounting (``usage`` is whatever the responder says), guardrails, cross-Region routing of inference
profiles, IAM (``bedrock:InvokeModel`` on the model and profile ARNs), the 3.75 MB / 8,000 px image limits
and Nova's rescaling. Without a responder the route answers ``ValidationException`` saying so.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Any

from photosort_local.moto_pin import patch_once

Responder = Callable[[dict[str, Any]], dict[str, Any]]

_responder: Responder | None = None
calls: list[dict[str, Any]] = []  # every validated request, newest last (tests inspect it)


class ConverseError(Exception):
    """Raised by a responder to make Converse answer with this service error code."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def set_responder(responder: Responder | None) -> None:
    """Who answers Converse calls from now on (None: nobody, every call is refused)."""
    global _responder  # noqa: PLW0603 - one process-wide stand-in, like the moto backends themselves
    _responder = responder


def tool_answer(
    tool_name: str, labels: Sequence[tuple[str, str]], *, input_tokens: int = 1400, output_tokens: int = 40
) -> dict[str, Any]:
    """A Converse response in which the model called ``tool_name`` with ``[(label, certainty), ...]``."""
    return {
        "output": {
            "message": {
                "role": "assistant",
                "content": [
                    {
                        "toolUse": {
                            "toolUseId": "tooluse_recorded",
                            "name": tool_name,
                            "input": {"labels": [{"label": name, "certainty": c} for name, c in labels]},
                        }
                    }
                ],
            }
        },
        "stopReason": "tool_use",
        "usage": {
            "inputTokens": input_tokens,
            "outputTokens": output_tokens,
            "totalTokens": input_tokens + output_tokens,
        },
        "metrics": {"latencyMs": 420},
    }


def _image_bytes(image: dict[str, Any], account_id: str) -> bytes:
    source = image.get("source") or {}
    if "bytes" in source:
        data = source["bytes"]
        return data if isinstance(data, bytes) else base64.b64decode(data)
    location = source.get("s3Location") or {}
    uri = str(location.get("uri", ""))
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise ConverseError("ValidationException", f"The provided S3 URI is invalid: {uri!r}")
    bucket, key = uri[5:].split("/", 1)
    from moto.s3.models import s3_backends

    try:
        obj = s3_backends[account_id]["aws"].get_object(bucket, key)
    except Exception as exc:
        raise ConverseError("ValidationException", f"Unable to access the S3 object {uri}: {exc}") from exc
    if obj is None:
        raise ConverseError("ValidationException", f"Unable to access the S3 object {uri}")
    return bytes(obj.value)


def validate(request: dict[str, Any], account_id: str) -> dict[str, Any]:
    """Check the parts of a Converse request photosort relies on; return it with images as bytes."""
    if not request.get("modelId"):
        raise ConverseError("ValidationException", "modelId is required")
    messages = request.get("messages") or []
    if not messages or messages[0].get("role") != "user":
        raise ConverseError("ValidationException", "A conversation must start with a user message.")
    tools = (request.get("toolConfig") or {}).get("tools") or []
    names = {t.get("toolSpec", {}).get("name") for t in tools}
    choice = (request.get("toolConfig") or {}).get("toolChoice") or {}
    if "tool" in choice and choice["tool"].get("name") not in names:
        raise ConverseError("ValidationException", f"toolChoice names an undefined tool {choice['tool'].get('name')!r}")
    resolved = []
    for message in messages:
        content = []
        for block in message.get("content") or []:
            if "image" in block:
                image = dict(block["image"])
                if image.get("format") not in ("png", "jpeg", "gif", "webp"):
                    raise ConverseError("ValidationException", f"Unsupported image format {image.get('format')!r}")
                image["source"] = {"bytes": _image_bytes(image, account_id)}
                content.append({"image": image})
            else:
                content.append(block)
        resolved.append({**message, "content": content})
    return {**request, "messages": resolved}


@patch_once("the Converse adapter")
def install() -> None:
    """Add the ``Converse`` route to moto's bedrock-runtime, once per process."""
    from moto.bedrockruntime.responses import BedrockRuntimeResponse
    from moto.core.exceptions import JsonRESTError

    def converse(self: Any) -> Any:
        from moto.core.responses import ActionResult

        request = {
            "modelId": self._get_param("modelId"),
            "messages": self._get_param("messages"),
            "system": self._get_param("system"),
            "toolConfig": self._get_param("toolConfig"),
            "inferenceConfig": self._get_param("inferenceConfig"),
        }
        try:
            checked = validate(request, self.current_account)
            if _responder is None:
                raise ConverseError(
                    "ValidationException", "moto has no Bedrock models: set a responder (bedrock_adapter)"
                )
            calls.append(checked)
            answer = _responder(checked)
        except ConverseError as exc:
            error = JsonRESTError(exc.code, exc.message)
            error.code = exc.status
            raise error from exc
        return ActionResult(answer)

    setattr(BedrockRuntimeResponse, "converse", converse)  # noqa: B010 - adding a method moto lacks

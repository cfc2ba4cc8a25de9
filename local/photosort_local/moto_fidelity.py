"""More of moto's gaps, beside :mod:`photosort_local.moto_patches` and installed by it (pinned to moto 5.2.5).

7. One "Object Created" event per upload, as S3 sends to EventBridge. moto 5.2.5's
   ``complete_multipart_upload`` stores the object through ``put_object``, which sends an ``ObjectCreated:Put``,
   and then sends ``ObjectCreated:CompleteMultipartUpload`` as well: every ``aws s3 cp`` above 8 MB started two
   executions. The ``Put`` raised inside a multipart completion is dropped here.
8. ``detail.reason`` spelled as S3 spells it for EventBridge: ``PutObject``, ``POST Object``, ``CopyObject``,
   ``CompleteMultipartUpload`` (moto's event names end in ``Put``, ``Post``, ``Copy``).
9. Functions created by CloudFormation keep their ``Architectures`` (moto drops the property, so
   ``lambda list-functions`` showed ``x86_64`` for the template's ``arm64``).
"""

from __future__ import annotations

import threading
from typing import Any

_state = threading.local()

# moto's S3 notification event name -> the ``detail.reason`` S3 sends to EventBridge
# (https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html, "Object Created").
_REASONS = {
    "s3:ObjectCreated:Put": "PutObject",
    "s3:ObjectCreated:Post": "POST Object",
    "s3:ObjectCreated:Copy": "CopyObject",
    "s3:ObjectCreated:CompleteMultipartUpload": "CompleteMultipartUpload",
    "s3:ObjectRemoved:Delete": "DeleteObject",
}


def event_reason(event_name: Any) -> str:
    """``detail.reason`` for one of moto's S3 event names."""
    name = _name(event_name)
    return _REASONS.get(name, name.rsplit(":", 1)[-1])


def _name(event_name: Any) -> str:
    """moto passes a ``str`` enum member, whose ``str()`` is its member name, not its value."""
    return str(getattr(event_name, "value", event_name))


def install() -> None:
    """Apply 7 and 9 (8 is used by adapter 3). Called once from :func:`photosort_local.moto_patches.install`."""
    _one_event_per_multipart_upload()
    _keep_lambda_architectures()


# 7 ---------------------------------------------------------------------------------------------------------
def _one_event_per_multipart_upload() -> None:
    from moto.s3 import models as s3_models
    from moto.s3 import notifications

    complete = s3_models.S3Backend.complete_multipart_upload
    send = notifications._send_event_bridge_message

    def complete_multipart_upload(self: Any, *args: Any, **kwargs: Any) -> Any:
        _state.completing = True
        try:
            return complete(self, *args, **kwargs)
        finally:
            _state.completing = False

    def send_event_bridge_message(account_id: str, bucket: Any, event_name: Any, key: Any) -> None:
        if getattr(_state, "completing", False) and _name(event_name) == "s3:ObjectCreated:Put":
            return  # the CompleteMultipartUpload event that follows is the one S3 sends
        send(account_id, bucket, event_name, key)

    s3_models.S3Backend.complete_multipart_upload = complete_multipart_upload
    notifications._send_event_bridge_message = send_event_bridge_message


# 9 ---------------------------------------------------------------------------------------------------------
def _keep_lambda_architectures() -> None:
    from moto.awslambda.models import LambdaFunction

    create = LambdaFunction.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create_from_cloudformation_json(
        cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> Any:
        fn = create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        architectures = cloudformation_json.get("Properties", {}).get("Architectures")
        if architectures:
            fn.architectures = list(architectures)
        return fn

    LambdaFunction.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)

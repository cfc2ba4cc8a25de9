"""S3 conditional copies for the embedded stack (pinned to moto 5.2.5, installed by ``moto_patches.install``).

Sort copies with ``CopySourceIfMatch`` (the source still holds the bytes Inspect hashed) and ``IfNoneMatch: *``
(the destination holds nothing yet), as S3 supports on CopyObject. moto 5.2.5's ``copy_object`` checks only
``x-amz-copy-source-if-none-match``: it ignores ``x-amz-copy-source-if-match`` and the destination's
``If-None-Match``/``If-Match``, so a copy would overwrite a different photo. This adapter checks them before
moto copies and answers as S3 does: ``412 PreconditionFailed`` for any failed condition (S3 does not say which),
and ``NoSuchKey`` when a destination ``If-Match`` names a key that does not exist.

What AWS does differently: the checks and the copy are one atomic step in S3. Here a lock makes the conditional
copies atomic with respect to each other (not to a concurrent plain PutObject of the same key).
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from photosort_local.moto_pin import patch_once

_lock = threading.Lock()


def _same(etag: str, wanted: str) -> bool:
    return wanted.strip().strip('"') == etag.strip('"')


@patch_once("photosort's S3 conditional-copy adapter")
def install() -> None:
    from moto.s3.exceptions import MissingKey, PreconditionFailed
    from moto.s3.responses import S3Response

    original = S3Response.copy_object

    def copy_object(self: Any) -> Any:
        with _lock:
            copy_source = self.headers.get("x-amz-copy-source")
            if isinstance(copy_source, bytes):
                copy_source = copy_source.decode("utf-8")
            parsed = urlparse(copy_source)
            src_bucket, src_key = unquote(parsed.path).lstrip("/").split("/", 1)
            version = parse_qs(parsed.query).get("versionId", [None])[0]
            source = self.backend.get_object(src_bucket, src_key, version_id=version)
            wanted = self.headers.get("x-amz-copy-source-if-match")
            if source is not None and wanted and not _same(source.etag, wanted):
                raise PreconditionFailed("x-amz-copy-source-If-Match")
            dest = self.backend.get_object(self.bucket_name, self.parse_key_name())
            if self.headers.get("If-None-Match") == "*" and dest is not None:
                raise PreconditionFailed("If-None-Match")
            if_match = self.headers.get("If-Match")
            if if_match:
                if dest is None:
                    raise MissingKey(key=self.parse_key_name())
                if not _same(dest.etag, if_match):
                    raise PreconditionFailed("If-Match")
            return original(self)

    S3Response.copy_object = copy_object

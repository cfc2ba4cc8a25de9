"""A boto3 (moto) client with some methods replaced by the test: ``Client(s3, copy_object=fails)``."""

from __future__ import annotations

from typing import Any


class Client:
    """The moto client, with some methods replaced by the test (everything else is delegated)."""

    def __init__(self, client: Any, **overrides: Any) -> None:
        self._client = client
        self.__dict__.update(overrides)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

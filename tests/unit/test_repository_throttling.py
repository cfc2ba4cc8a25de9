"""DynamoDB throttling reaches the state machine's StoreBusyError retry instead of failing the photo."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from photosort.errors import StoreBusyError
from photosort.repository import THROTTLING_CODES, Repository


class _Throttled:
    def __init__(self, code: str) -> None:
        self.code = code

    def __getattr__(self, name: str) -> Any:
        def call(**_: Any) -> Any:
            raise ClientError({"Error": {"Code": self.code, "Message": "slow down"}}, name)

        return call


@pytest.mark.parametrize("code", sorted(THROTTLING_CODES))
def test_throttling_is_store_busy(code: str) -> None:
    repo = Repository(_Throttled(code), "t")
    with pytest.raises(StoreBusyError, match=code):
        repo.get("abc")
    with pytest.raises(StoreBusyError):
        repo.hash_owner("0" * 64)


def test_the_three_throttling_codes_of_the_issue_are_mapped() -> None:
    assert {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"} <= THROTTLING_CODES


def test_other_errors_pass_unchanged() -> None:
    repo = Repository(_Throttled("AccessDeniedException"), "t")
    with pytest.raises(ClientError):
        repo.get("abc")

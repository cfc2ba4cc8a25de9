"""The pin every moto adapter shares (photosort_local.moto_pin): checked first, applied once."""

from __future__ import annotations

import pytest

from photosort_local import MOTO_VERSION, moto_pin


def test_a_patch_runs_once_after_the_version_check() -> None:
    applied: list[str] = []

    @moto_pin.patch_once("a test adapter")
    def install() -> None:
        applied.append("patched")

    install()
    install()
    assert applied == ["patched"]


def test_an_untested_moto_is_refused_before_anything_is_patched(monkeypatch: pytest.MonkeyPatch) -> None:
    applied: list[str] = []

    @moto_pin.patch_once("a test adapter")
    def install() -> None:
        applied.append("patched")

    monkeypatch.setattr(moto_pin.moto, "__version__", "9.9.9")
    with pytest.raises(moto_pin.MotoVersionError, match=f"a test adapter are tested against moto {MOTO_VERSION}"):
        install()
    assert applied == []
    monkeypatch.setattr(moto_pin.moto, "__version__", MOTO_VERSION)
    install()  # refused once is not "done": the pinned version still gets the patch
    assert applied == ["patched"]

"""The pin every moto adapter shares: refuse an untested moto, and apply a patch once per process.

The adapters (``moto_patches``, ``lambda_errors``, ``schedule_rules``, ``bedrock_adapter``) reach into moto's
internals, so each one is tested against exactly :data:`photosort_local.MOTO_VERSION`. Patches are process-wide
(they replace methods on moto's classes), so each is applied at most once, under a lock.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable

import moto

from photosort_local import MOTO_VERSION


class MotoVersionError(RuntimeError):
    """The installed moto is not the version these adapters are tested against."""


def check_version(found: str, adapter: str = "photosort's moto adapters") -> None:
    """Raise :class:`MotoVersionError` unless ``found`` is the pinned moto version."""
    if found != MOTO_VERSION:
        raise MotoVersionError(
            f"{adapter} are tested against moto {MOTO_VERSION}, found {found}; "
            "install the pinned version (make install)"
        )


def patch_once(adapter: str) -> Callable[[Callable[[], None]], Callable[[], None]]:
    """Decorate a function that patches moto: it runs once per process, after the version check."""

    def decorate(apply: Callable[[], None]) -> Callable[[], None]:
        lock = threading.Lock()
        done = False

        @functools.wraps(apply)
        def install() -> None:
            nonlocal done
            with lock:
                if done:
                    return
                check_version(moto.__version__, adapter)
                apply()
                done = True

        return install

    return decorate

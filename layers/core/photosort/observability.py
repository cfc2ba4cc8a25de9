"""Observability never decides a photo's fate.

Powertools' ``@metrics.log_metrics`` flushes in a ``finally``: if serialising the metrics raises (its schema
check, ``SchemaValidationError: Must contain at least one metric``, or anything else), that error replaces the
handler's result and the photo goes to failed/ for a reason that has nothing to do with it. ``log_metrics``
here flushes the same way but logs such an error instead of raising it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
_log = logging.getLogger("photosort.observability")


def log_metrics(metrics: Any) -> Callable[[F], F]:
    """Like ``@metrics.log_metrics``: flush after every invocation, but a metrics failure is only logged."""

    def decorate(handler: F) -> F:
        @functools.wraps(handler)
        def wrapper(event: Any, context: Any) -> Any:
            try:
                return handler(event, context)
            finally:
                flush(metrics)

        return wrapper  # type: ignore[return-value]

    return decorate


def flush(metrics: Any) -> None:
    try:
        metrics.flush_metrics(raise_on_empty_metrics=False)
    except Exception:  # noqa: BLE001 - observability must never fail a photo
        _log.warning("metrics could not be published; the photo's outcome stands", exc_info=True)
        try:
            metrics.clear_metrics()
        except Exception:  # noqa: BLE001 - same
            _log.debug("clearing metrics failed", exc_info=True)

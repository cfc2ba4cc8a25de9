"""moto 5.2.5 adapter: a scheduled EventBridge rule receives no events.

What moto does: it offers every event on a bus to every rule, and a rule with only a ``ScheduleExpression`` has an
empty pattern that matches everything, so an S3 upload "triggers" the sweeper's schedule (and moto then raises
NotImplementedError for its Lambda target). What AWS does: a rule is either scheduled or pattern-based; a
scheduled rule fires only on its schedule. In the embedded stack, schedules never fire by themselves: invoke the
function (the tests do, with the schedule's Input).
"""

from __future__ import annotations

from typing import Any

from photosort_local.moto_pin import patch_once


@patch_once("the scheduled-rule adapter")
def install() -> None:
    from moto.events.models import Rule

    original = Rule.send_to_targets

    def send_to_targets(self: Any, event: dict[str, Any], transform_input: bool = True) -> None:
        if getattr(self, "scheduled_expression", None):
            return
        original(self, event, transform_input)

    Rule.send_to_targets = send_to_targets

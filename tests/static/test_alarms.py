"""The template deploys an alarm for each way photos can go wrong, all notifying the optional SNS topic, and the
README says what each means and what to do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from photosort_local.sam import load_sam_template as read_template

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = read_template(REPO / "template.yaml")
EXPECTED = {
    "WorkflowFailedAlarm": ("AWS/States", "ExecutionsFailed"),
    "WorkflowTimedOutAlarm": ("AWS/States", "ExecutionsTimedOut"),
    "DeadLetterQueueAlarm": ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
    "PhotosFailedAlarm": ("Photosort", "ImagesFailed"),
    "StuckObjectsAlarm": ("Photosort", "StuckObjects"),
    "SweeperFailingAlarm": ("AWS/Lambda", "Errors"),
}


def _alarms() -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in TEMPLATE["Resources"].items() if v["Type"] == "AWS::CloudWatch::Alarm"}


def test_every_alarm_is_deployed() -> None:
    alarms = _alarms()
    assert set(alarms) == set(EXPECTED)
    for name, (namespace, metric) in EXPECTED.items():
        assert (alarms[name]["Namespace"], alarms[name]["MetricName"]) == (namespace, metric)
        assert alarms[name]["TreatMissingData"] == "notBreaching"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_alarms_notify_the_optional_topic(name: str) -> None:
    props = _alarms()[name]
    for actions in ("AlarmActions", "OKActions"):
        assert props[actions] == {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
    assert TEMPLATE["Parameters"]["AlarmTopicArn"]["Default"] == ""


def test_custom_metric_alarms_use_the_dimensions_powertools_emits() -> None:
    alarms = _alarms()
    services = {
        "PhotosFailedAlarm": "photosort-quarantine",
        "StuckObjectsAlarm": "photosort-sweep",
    }
    functions = {"PhotosFailedAlarm": "QuarantineFunction", "StuckObjectsAlarm": "SweepFunction"}
    for alarm, service in services.items():
        assert alarms[alarm]["Dimensions"] == [{"Name": "service", "Value": service}]
        env = TEMPLATE["Resources"][functions[alarm]]["Properties"]["Environment"]["Variables"]
        assert env["POWERTOOLS_SERVICE_NAME"] == service
    namespace = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    assert namespace == "Photosort"


def test_the_metrics_the_alarms_watch_are_emitted() -> None:
    quarantine = (REPO / "functions" / "quarantine" / "app.py").read_text(encoding="utf-8")
    sweep = (REPO / "functions" / "sweep" / "app.py").read_text(encoding="utf-8")
    assert 'name="ImagesFailed"' in quarantine and 'name="StuckObjects"' in sweep


def test_readme_explains_every_alarm() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Alarms", 1)[1].split("\n## ", 1)[0]
    for name in EXPECTED:
        assert f"`{name}`" in section, name

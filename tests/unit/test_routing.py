"""Routing rules: validation errors that name the field, matching on labels and parents, destination keys."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from photosort.errors import ConfigurationError
from photosort.models import Label
from photosort.routing import destination_for, load_rules, match, render_key, validate_rules


def label(name: str, confidence: float, *parents: str) -> Label:
    return Label(name=name, confidence=confidence, parents=parents)


def test_presets_load() -> None:
    assert [r.album for r in load_rules("family").rules][:4] == ["people", "group", "pets", "animals"]
    assert {r.kind.value for r in load_rules("dealership").rules} == {"inventory"}


def test_matching_uses_parents_case_insensitively_and_keeps_rule_order() -> None:
    rules = load_rules("family")

    found = match(rules, [label("tabby cat", 80, "cat", "ANIMAL")])

    assert [(m.album, m.label) for m in found] == [("pets", "tabby cat"), ("animals", "tabby cat")]


def test_below_the_threshold_nothing_matches() -> None:
    rules = load_rules("family")  # pets 40, animals 65
    assert match(rules, [label("Cat", 39.9, "Animal")]) == ()
    assert destination_for(None, rules)[0] == "unsorted/"


def test_a_rule_threshold_overrides_the_default() -> None:
    rules = load_rules("family")  # people needs 97 (default 50)
    assert match(rules, [label("Person", 90)], face_count=1) == ()
    assert match(rules, [label("Person", 98)], face_count=1)[0].album == "people"


def test_destination_key_keeps_the_name_and_adds_the_hash() -> None:
    key = render_key(
        "albums/pets/",
        "{year}/{stem}-{sha8}{ext}",
        source_key="incoming/trip/IMG 0001.JPG",
        sha256="abcdef0123",
        when=datetime(2024, 7, 1),
    )
    assert key == "albums/pets/2024/IMG 0001-abcdef01.jpg"


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"rules": []}, "rules: Tuple should have at least 1 item"),
        ({"rules": [{"album": "Bad Name", "labels": ["Cat"]}]}, "rules.0.album"),
        ({"rules": [{"album": "a", "labels": ["Cat"], "min_confidence": 101}]}, "rules.0.min_confidence"),
        ({"rules": [{"album": "a", "labels": ["Cat"], "path": "{year}/{stem}{ext}"}]}, "must contain {sha8}"),
        ({"rules": [{"album": "a", "labels": ["Cat"], "path": "../{sha8}"}]}, "must not contain '..'"),
        ({"rules": [{"album": "a", "labels": ["Cat"], "colour": "red"}]}, "rules.0.colour"),
        (
            {"rules": [{"album": "a", "labels": ["Cat"]}, {"album": "a", "kind": "inventory", "labels": ["Car"]}]},
            "both as an album and as an inventory category",
        ),
    ],
)
def test_bad_rules_name_the_field_and_the_problem(rules: dict, message: str) -> None:
    with pytest.raises(ConfigurationError, match="invalid rules") as error:
        validate_rules(rules)
    assert message in str(error.value)


def test_inline_json_and_unknown_presets() -> None:
    inline = json.dumps({"rules": [{"album": "gadgets", "labels": ["Phone"]}]})
    assert load_rules(inline).rules[0].album == "gadgets"
    with pytest.raises(ConfigurationError, match="neither a preset"):
        load_rules("holidays")
    with pytest.raises(ConfigurationError, match="not valid JSON"):
        load_rules("{not json")


def test_rules_from_ssm_are_validated_at_start_and_follow_updates() -> None:
    import boto3
    from moto import mock_aws

    from photosort.routing import RulesSource

    with mock_aws():
        ssm = boto3.client("ssm", region_name="us-east-1")
        name = "/photosort/test-rules-updates"
        ssm.put_parameter(Name=name, Type="String", Value=json.dumps({"rules": [{"album": "a", "labels": ["Cat"]}]}))
        source = RulesSource("family", parameter_name=name, max_age=0)
        assert source.current().rules[0].album == "a"

        ssm.put_parameter(
            Name=name, Type="String", Overwrite=True, Value=json.dumps({"rules": [{"album": "b", "labels": ["Dog"]}]})
        )
        assert source.current().rules[0].album == "b"

        ssm.put_parameter(Name=name, Type="String", Overwrite=True, Value='{"rules": []}')
        with pytest.raises(ConfigurationError, match=f"SSM parameter {name}: invalid rules"):
            source.current()


def test_rules_from_a_bad_ssm_document_fail_at_start() -> None:
    import boto3
    from moto import mock_aws

    from photosort.routing import RulesSource

    with mock_aws():
        boto3.client("ssm", region_name="us-east-1").put_parameter(
            Name="/photosort/bad", Type="String", Value="not json"
        )
        with pytest.raises(ConfigurationError, match="not valid JSON"):
            RulesSource("family", parameter_name="/photosort/bad")

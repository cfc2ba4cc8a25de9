"""The bedrock backend in template.yaml: least-privilege bedrock:InvokeModel, the model id the function gets,
and its parameters. IAM is read from the SAM translator's CloudFormation (what is deployed)."""

from __future__ import annotations

import json
from typing import Any

from photosort import constants
from photosort.settings import Settings


def _classify_policies(cfn_template: dict[str, Any]) -> list[Any]:
    role = cfn_template["Resources"]["ClassifyFunctionRole"]["Properties"]
    return role.get("Policies", [])


def _bedrock_branches(cfn_template: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """{condition name: statements} for every Fn::If policy that grants a bedrock: action."""
    found = {}
    for policy in _classify_policies(cfn_template):
        if "Fn::If" not in policy:
            continue
        condition, then, otherwise = policy["Fn::If"]
        assert otherwise == {"Ref": "AWS::NoValue"}, condition
        statements = then["PolicyDocument"]["Statement"]
        if any("bedrock:" in json.dumps(st["Action"]) for st in statements):
            found[condition] = statements
    return found


def test_in_region_model_grant_is_that_one_model(cfn_template: dict[str, Any]) -> None:
    (statement,) = _bedrock_branches(cfn_template)["UseBedrockInRegion"]
    assert statement["Action"] == "bedrock:InvokeModel"
    assert statement["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:bedrock:${AWS::Region}::foundation-model/${BedrockModelId}"
    }


def test_inference_profile_grant_reaches_the_model_only_through_the_profile(cfn_template: dict[str, Any]) -> None:
    profile, model = _bedrock_branches(cfn_template)["UseBedrockProfile"]
    profile_arn = (
        "arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:inference-profile/"
        "${BedrockInferenceProfile}.${BedrockModelId}"
    )
    assert profile["Action"] == model["Action"] == "bedrock:InvokeModel"
    assert profile["Resource"] == {"Fn::Sub": profile_arn}
    # Any destination Region (the profile decides), but this model only, and only via this profile.
    assert model["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:bedrock:*::foundation-model/${BedrockModelId}"}
    assert model["Condition"] == {"StringEquals": {"bedrock:InferenceProfileArn": {"Fn::Sub": profile_arn}}}


def test_bedrock_grants_exist_only_when_the_backend_is_bedrock(sam_template: dict[str, Any]) -> None:
    conditions = sam_template["Conditions"]
    assert conditions["UseBedrock"] == {"Fn::Equals": [{"Ref": "ClassifierBackend"}, "bedrock"]}
    for name in ("UseBedrockInRegion", "UseBedrockProfile", "BedrockReadsRulesParameter"):
        assert {"Condition": "UseBedrock"} in conditions[name]["Fn::And"], name


def test_function_gets_the_profile_qualified_model_id(sam_template: dict[str, Any]) -> None:
    variables = sam_template["Resources"]["ClassifyFunction"]["Properties"]["Environment"]["Variables"]
    assert variables[constants.BEDROCK_MODEL_ID] == {
        "Fn::If": [
            "UseBedrockProfile",
            {"Fn::Sub": "${BedrockInferenceProfile}.${BedrockModelId}"},
            {"Ref": "BedrockModelId"},
        ]
    }
    assert variables[constants.BEDROCK_IMAGE_SOURCE] == {"Ref": "BedrockImageSource"}


def test_parameters_match_what_settings_accept(sam_template: dict[str, Any]) -> None:
    params = sam_template["Parameters"]
    assert "bedrock" in params["ClassifierBackend"]["AllowedValues"]
    assert params["BedrockModelId"]["Default"] == Settings.model_fields["bedrock_model_id"].default
    assert set(params["BedrockImageSource"]["AllowedValues"]) == {"bytes", "s3"}
    assert "none" in params["BedrockInferenceProfile"]["AllowedValues"]
    # Settings accept what the template can pass, including the profile-qualified id.
    for source in params["BedrockImageSource"]["AllowedValues"]:
        for model in (params["BedrockModelId"]["Default"], "us." + params["BedrockModelId"]["Default"]):
            settings = Settings.from_env(
                {
                    constants.BACKEND: "bedrock",
                    constants.BEDROCK_MODEL_ID: model,
                    constants.BEDROCK_IMAGE_SOURCE: source,
                }
            )
            assert settings.bedrock_model_id == model and settings.bedrock_image_source == source

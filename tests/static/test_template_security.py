"""Security properties of template.yaml, asserted directly so that breaking one fails the build.

IAM is checked on the CloudFormation the SAM translator produces (what is really deployed), including both
branches of every ``Fn::If``; resource settings are checked on the template as written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from photosort import constants

REPO = Path(__file__).resolve().parents[2]

WORKFLOW_FUNCTIONS = (
    "ClassifyFunction",
    "RecordFunction",
    "SortFunction",
    "QuarantineFunction",
)
FUNCTIONS = (*WORKFLOW_FUNCTIONS, "AlbumsApiFunction")
STATE_MACHINE = "PhotoWorkflow"

# Upper bound of what each function may do: exactly the calls its handler and layers/core/photosort make.
ALLOWED_ACTIONS: dict[str, set[str]] = {
    "ClassifyFunction": {
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:ListBucket",  # GetObject of a key that is gone answers NoSuchKey, not AccessDenied
        "rekognition:DetectLabels",
        "rekognition:DetectCustomLabels",
        "sagemaker:InvokeEndpoint",
        "bedrock:InvokeModel",
        "ssm:GetParameter",  # bedrock: the rules' labels are the model's vocabulary
    },
    "RecordFunction": {
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",  # album items, once per warm container
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:Query",  # the near-duplicate index (photosort.neardup)
        "ssm:GetParameter",
    },
    "SortFunction": {
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:DeleteObject",
        "s3:PutObject",
        "s3:PutObjectTagging",
        "s3:ListBucket",
    },
    "QuarantineFunction": {
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:DeleteObject",
        "s3:PutObject",
        "s3:PutObjectTagging",
        "s3:ListBucket",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
    },
    # read-only on the table: Repository.get/get_album (GetItem), list_albums/list_album (Query), search_label (Scan);
    # GetObject to presign thumbnail and original URLs and to read a photo whose thumbnail is made on first view,
    # PutObject for that thumbnail, ListBucket so HeadObject of a thumbnail not made yet answers 404
    "AlbumsApiFunction": {
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:Scan",
        "s3:GetObject",
        "s3:PutObject",
        "s3:ListBucket",
    },
}

# The only actions that may be granted on Resource "*", and why.
STAR_RESOURCE_OK: dict[str, str] = {
    "rekognition:DetectLabels": "DetectLabels supports no resource-level permissions",
    **{
        f"xray:{a}": "X-Ray trace APIs support no resource-level permissions"
        for a in ("PutTraceSegments", "PutTelemetryRecords", "GetSamplingRules", "GetSamplingTargets")
    },
    **{
        f"logs:{a}": "CloudWatch Logs vended delivery (state machine logging) needs Resource '*'"
        for a in (
            "CreateLogDelivery",
            "GetLogDelivery",
            "UpdateLogDelivery",
            "DeleteLogDelivery",
            "ListLogDeliveries",
            "PutResourcePolicy",
            "DescribeResourcePolicies",
            "DescribeLogGroups",
        )
    },
}

# AWS managed policies SAM attaches; anything else (e.g. AmazonS3FullAccess) must not appear.
ALLOWED_MANAGED_POLICIES = {"AWSLambdaBasicExecutionRole", "AWSXrayWriteOnlyAccess"}

WRITE_ACTIONS = {"s3:PutObject", "s3:PutObjectTagging", "s3:DeleteObject"}


# -- helpers ---------------------------------------------------------------------------------------------
def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _branches(value: Any) -> Iterator[Any]:
    """Every concrete value an ``Fn::If`` tree can take (``AWS::NoValue`` dropped)."""
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        _cond, yes, no = value["Fn::If"]
        yield from _branches(yes)
        yield from _branches(no)
    elif value != {"Ref": "AWS::NoValue"}:
        yield value


def _statements(role: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for policy in role["Properties"].get("Policies", []):
        for concrete in _branches(policy):
            for statement in _as_list(concrete["PolicyDocument"]["Statement"]):
                yield from _branches(statement)


def _role_of(cfn: dict[str, Any], logical_id: str) -> dict[str, Any]:
    role_arn = cfn["Resources"][logical_id]["Properties"]["RoleArn" if logical_id == STATE_MACHINE else "Role"]
    role_id, attr = role_arn["Fn::GetAtt"]
    assert attr == "Arn"
    return cfn["Resources"][role_id]


def _bucket_subpath(resource: Any) -> str | None:
    """'incoming/*' for ``!Sub "${PhotoBucket.Arn}/incoming/*"``, '' for the bucket itself, None otherwise."""
    if resource == {"Fn::GetAtt": ["PhotoBucket", "Arn"]}:
        return ""
    if isinstance(resource, dict) and isinstance(resource.get("Fn::Sub"), str):
        m = re.fullmatch(r"\$\{PhotoBucket\.Arn\}/(.*)", resource["Fn::Sub"])
        if m:
            return m.group(1)
    return None


def _function_statements(cfn: dict[str, Any], fn: str) -> list[dict[str, Any]]:
    return list(_statements(_role_of(cfn, fn)))


# -- IAM -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("logical_id", [*FUNCTIONS, STATE_MACHINE])
def test_no_wildcard_actions_and_no_star_resources_outside_the_allow_list(
    cfn_template: dict[str, Any], logical_id: str
) -> None:
    statements = list(_statements(_role_of(cfn_template, logical_id)))
    assert statements, f"{logical_id} has no inline policy"
    for st in statements:
        assert st["Effect"] == "Allow", st
        assert "NotAction" not in st and "NotResource" not in st, st
        actions = _as_list(st["Action"])
        for action in actions:
            assert isinstance(action, str) and "*" not in action, f"{logical_id}: wildcard action {action!r}"
        resources = _as_list(st["Resource"])
        if "*" in resources:
            bad = [a for a in actions if a not in STAR_RESOURCE_OK]
            assert not bad, f"{logical_id}: {bad} granted on Resource '*' (allowed only: {sorted(STAR_RESOURCE_OK)})"
        for resource in resources:
            if isinstance(resource, str) and resource != "*":
                assert "*" not in resource.split(":", 5)[-1].split("/")[0], f"{logical_id}: wildcard in {resource}"


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_functions_are_granted_only_the_actions_their_code_calls(cfn_template: dict[str, Any], fn: str) -> None:
    granted = {a for st in _function_statements(cfn_template, fn) for a in _as_list(st["Action"])}
    extra = granted - ALLOWED_ACTIONS[fn]
    assert not extra, f"{fn} is granted {sorted(extra)}, which its code does not call"


@pytest.mark.parametrize("logical_id", [*FUNCTIONS, STATE_MACHINE])
def test_only_the_expected_managed_policies(cfn_template: dict[str, Any], logical_id: str) -> None:
    role = _role_of(cfn_template, logical_id)
    for arn in role["Properties"].get("ManagedPolicyArns", []):
        assert isinstance(arn, str), arn
        assert arn.rsplit("/", 1)[-1] in ALLOWED_MANAGED_POLICIES, f"{logical_id}: unexpected managed policy {arn}"


def test_every_function_has_its_own_role(cfn_template: dict[str, Any]) -> None:
    roles = [_role_of(cfn_template, fn) for fn in FUNCTIONS]
    assert len({id(r) for r in roles}) == len(FUNCTIONS)


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_s3_grants_are_scoped_to_prefixes_and_never_write_to_incoming(cfn_template: dict[str, Any], fn: str) -> None:
    for st in _function_statements(cfn_template, fn):
        actions = [a for a in _as_list(st["Action"]) if a.startswith("s3:")]
        if not actions:
            continue
        for resource in _as_list(st["Resource"]):
            sub = _bucket_subpath(resource)
            assert sub is not None, f"{fn}: S3 grant on something other than PhotoBucket: {resource}"
            if sub == "":
                assert actions == ["s3:ListBucket"], f"{fn}: bucket-level grant {actions}"
                continue
            assert "s3:ListBucket" not in actions
            prefix = sub.removesuffix("*")
            assert prefix.endswith("/") and "*" not in prefix, f"{fn}: {sub!r} is not one prefix"
            written = WRITE_ACTIONS.intersection(actions) - {"s3:DeleteObject"}
            # Writing under incoming/ would re-trigger the workflow (S3 -> EventBridge has no loop detection).
            assert not (written and prefix == constants.INCOMING_PREFIX), f"{fn} may write under incoming/"
            if "s3:DeleteObject" in actions:
                assert prefix == constants.INCOMING_PREFIX, f"{fn} may delete under {prefix}"


def _write_prefixes(cfn: dict[str, Any], fn: str) -> set[str]:
    return {
        (_bucket_subpath(r) or "").removesuffix("*")
        for st in _function_statements(cfn, fn)
        if "s3:PutObject" in _as_list(st["Action"])
        for r in _as_list(st["Resource"])
    }


def test_sort_writes_every_output_prefix_but_failed_and_quarantine_only_failed(cfn_template: dict[str, Any]) -> None:
    assert _write_prefixes(cfn_template, "SortFunction") == set(constants.OUTPUT_PREFIXES) - {constants.FAILED_PREFIX}
    assert _write_prefixes(cfn_template, "QuarantineFunction") == {constants.FAILED_PREFIX}
    assert _write_prefixes(cfn_template, "AlbumsApiFunction") == {constants.THUMBNAILS_PREFIX}  # on first view
    for fn in ("ClassifyFunction", "RecordFunction"):
        assert _write_prefixes(cfn_template, fn) == set(), f"{fn} must not write to S3"


def test_the_albums_api_reads_only_thumbnails_and_gallery_photos(cfn_template: dict[str, Any]) -> None:
    read = {
        (_bucket_subpath(r) or "").removesuffix("*")
        for st in _function_statements(cfn_template, "AlbumsApiFunction")
        if "s3:GetObject" in _as_list(st["Action"])
        for r in _as_list(st["Resource"])
    }
    assert read == {
        constants.THUMBNAILS_PREFIX,
        constants.ALBUMS_PREFIX,
        constants.INVENTORY_PREFIX,
        constants.UNSORTED_PREFIX,  # read (never presigned) to make an unsorted photo's thumbnail on first view
    }


def test_the_rules_parameter_grant_names_only_that_parameter(cfn_template: dict[str, Any]) -> None:
    grants = [
        st
        for fn in FUNCTIONS
        for st in _function_statements(cfn_template, fn)
        if any(a.startswith("ssm:") for a in _as_list(st["Action"]))
    ]
    assert len(grants) == 2  # Record (routing) and, with the bedrock backend, Classify (the vocabulary)
    for grant in grants:
        assert _as_list(grant["Action"]) == ["ssm:GetParameter"]
        assert "parameter${RoutingRulesParameterName}" in json.dumps(grant["Resource"])


def test_dynamodb_grants_are_on_photo_table_only(cfn_template: dict[str, Any]) -> None:
    for fn in FUNCTIONS:
        for st in _function_statements(cfn_template, fn):
            if any(a.startswith("dynamodb:") for a in _as_list(st["Action"])):
                assert _as_list(st["Resource"]) == [{"Fn::GetAtt": ["PhotoTable", "Arn"]}], (fn, st)


def test_state_machine_invokes_exactly_the_workflow_functions(cfn_template: dict[str, Any]) -> None:
    invoked = set()
    for st in _statements(_role_of(cfn_template, STATE_MACHINE)):
        if "lambda:InvokeFunction" in _as_list(st["Action"]):
            for resource in _as_list(st["Resource"]):
                m = re.search(r"function:\$\{functionName\}", resource["Fn::Sub"][0])
                assert m, resource
                invoked.add(resource["Fn::Sub"][1]["functionName"]["Ref"])
    assert invoked == set(WORKFLOW_FUNCTIONS)


# -- storage ---------------------------------------------------------------------------------------------
def test_bucket_blocks_public_access_enforces_ownership_and_encrypts(sam_template: dict[str, Any]) -> None:
    bucket = sam_template["Resources"]["PhotoBucket"]
    props = bucket["Properties"]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    rules = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rules and all(
        r["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms", "aws:kms:dsse") for r in rules
    )
    assert "AccessControl" not in props
    assert bucket["DeletionPolicy"] == "Retain"


def test_bucket_policy_denies_insecure_transport_and_grants_nobody(sam_template: dict[str, Any]) -> None:
    policies = [r for r in sam_template["Resources"].values() if r["Type"] == "AWS::S3::BucketPolicy"]
    assert len(policies) == 1
    policy = policies[0]["Properties"]
    assert policy["Bucket"] == {"Ref": "PhotoBucket"}
    statements = policy["PolicyDocument"]["Statement"]
    assert all(st["Effect"] == "Deny" for st in statements), "the bucket policy must not grant anything"
    tls = [st for st in statements if st.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}]
    assert tls, "no statement denies aws:SecureTransport=false"
    st = tls[0]
    assert st["Principal"] == "*" and st["Action"] == "s3:*"
    assert {"Fn::GetAtt": ["PhotoBucket", "Arn"]} in st["Resource"]
    assert {"Fn::Sub": "${PhotoBucket.Arn}/*"} in st["Resource"]


def test_table_has_pitr_encryption_and_is_retained(sam_template: dict[str, Any]) -> None:
    table = sam_template["Resources"]["PhotoTable"]
    props = table["Properties"]
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert props["DeletionProtectionEnabled"] is True
    assert table["DeletionPolicy"] == "Retain" and table["UpdateReplacePolicy"] == "Retain"


def test_dead_letter_queue_is_encrypted_and_only_eventbridge_may_send(sam_template: dict[str, Any]) -> None:
    resources = sam_template["Resources"]
    queue = resources["DeadLetterQueue"]["Properties"]
    assert queue.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in queue
    assert queue["RedriveAllowPolicy"] == {"redrivePermission": "denyAll"}  # replayed via Step Functions, not SQS
    (st,) = resources["DeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert st["Principal"] == {"Service": "events.amazonaws.com"} and st["Action"] == "sqs:SendMessage"
    assert "aws:SourceArn" in st["Condition"]["ArnEquals"]


# -- observability ---------------------------------------------------------------------------------------
def test_log_groups_have_retention(cfn_template: dict[str, Any]) -> None:
    groups = {k: v for k, v in cfn_template["Resources"].items() if v["Type"] == "AWS::Logs::LogGroup"}
    assert groups
    for name, group in groups.items():
        assert "RetentionInDays" in group["Properties"], f"{name} keeps logs forever"


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_functions_trace_and_log_to_the_retained_log_group(cfn_template: dict[str, Any], fn: str) -> None:
    props = cfn_template["Resources"][fn]["Properties"]
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["LoggingConfig"]["LogGroup"] == {"Ref": "FunctionLogGroup"}


def test_state_machine_traces_and_logs(cfn_template: dict[str, Any]) -> None:
    props = cfn_template["Resources"][STATE_MACHINE]["Properties"]
    assert props["TracingConfiguration"] == {"Enabled": True}
    logging = props["LoggingConfiguration"]
    assert logging["Level"] in ("ALL", "ERROR", "FATAL")
    assert logging["Destinations"] == [
        {"CloudWatchLogsLogGroup": {"LogGroupArn": {"Fn::GetAtt": ["StateMachineLogGroup", "Arn"]}}}
    ]


# -- trigger (recursion guard) ---------------------------------------------------------------------------
def _key_matches(matchers: list[Any], key: str) -> bool:
    """EventBridge content filtering for the matchers the rule may use; anything else fails the test."""
    for m in matchers:
        if isinstance(m, str):
            if key == m:
                return True
        elif isinstance(m, dict) and set(m) == {"prefix"} and isinstance(m["prefix"], str):
            if key.startswith(m["prefix"]):
                return True
        else:
            pytest.fail(f"unsupported key matcher {m!r}: extend _key_matches and keep the guard")
    return False


def _upload_rule(cfn: dict[str, Any]) -> dict[str, Any]:
    all_rules = [r for r in cfn["Resources"].values() if r["Type"] == "AWS::Events::Rule"]
    rules = [r for r in all_rules if "EventPattern" in r["Properties"]]
    assert len(rules) == 1, "exactly one rule may start the workflow"
    for other in all_rules:  # the sweeper's schedule: no pattern, so no event can reach it
        if other is not rules[0]:
            assert "ScheduleExpression" in other["Properties"], other
    return rules[0]["Properties"]


def test_rule_matches_only_object_created_in_photo_bucket(cfn_template: dict[str, Any]) -> None:
    pattern = _upload_rule(cfn_template)["EventPattern"]
    assert pattern["source"] == ["aws.s3"]
    assert pattern["detail-type"] == ["Object Created"]
    assert pattern["detail"]["bucket"]["name"] == [{"Ref": "PhotoBucket"}]


def test_rule_matches_only_keys_under_incoming(cfn_template: dict[str, Any]) -> None:
    matchers = _upload_rule(cfn_template)["EventPattern"]["detail"]["object"]["key"]
    assert _key_matches(matchers, constants.INCOMING_PREFIX + "IMG_0001.jpg")
    assert _key_matches(matchers, constants.INCOMING_PREFIX + "2024/trip/photo.heic")
    for m in matchers:  # every matcher is confined to incoming/
        text = m if isinstance(m, str) else m["prefix"]
        assert text.startswith(constants.INCOMING_PREFIX), m
    for prefix in constants.OUTPUT_PREFIXES:
        assert not prefix.startswith(constants.INCOMING_PREFIX), prefix
        for key in (prefix, prefix + "x.jpg", prefix + "incoming/x.jpg", prefix + "2024/01/a b+c.jpg"):
            assert not _key_matches(matchers, key), f"the trigger matches output key {key!r}"
    for key in ("incoming", "Incoming/x.jpg", "x/incoming/y.jpg", ""):
        assert not _key_matches(matchers, key), key


def test_rule_target_has_retries_and_a_dead_letter_queue(cfn_template: dict[str, Any]) -> None:
    (target,) = _upload_rule(cfn_template)["Targets"]
    assert target["Arn"] == {"Ref": STATE_MACHINE}
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0


# -- configuration validated before use ------------------------------------------------------------------
def test_routing_rules_pattern_accepts_presets_and_json_only(sam_template: dict[str, Any]) -> None:
    param = sam_template["Parameters"]["RoutingRules"]
    pattern = re.compile(param["AllowedPattern"])  # CloudFormation matches the whole value (Java regex)
    presets = sorted(p.stem for p in (REPO / "layers/core/photosort/rules").glob("*.json"))
    assert presets
    for ok in [*presets, param["Default"], '{"rules": []}', ' {"a": 1}\n']:
        assert pattern.fullmatch(ok), ok
    for bad in ["famly", "[1, 2]", "family; rm", "s3://bucket/rules.json", ""]:
        assert not pattern.fullmatch(bad), bad


def test_backend_parameters_are_asserted_by_rules(sam_template: dict[str, Any]) -> None:
    rules = sam_template["Rules"]
    conditions = {r["RuleCondition"]["Fn::Equals"][1]: r for r in rules.values()}
    assert set(conditions) == {"custom-labels", "sagemaker", "bedrock"}
    assert "BedrockModelId" in str(conditions["bedrock"]["Assertions"])
    assert "CustomLabelsProjectVersionArn" in str(conditions["custom-labels"]["Assertions"])
    assert "SageMakerEndpointName" in str(conditions["sagemaker"]["Assertions"])


# -- suppressions stay honest ----------------------------------------------------------------------------
def test_every_checkov_suppression_has_a_reason(sam_template: dict[str, Any]) -> None:
    for name, resource in sam_template["Resources"].items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), (name, skip)
            assert len(skip.get("comment", "").strip()) >= 30, f"{name}: {skip['id']} suppressed without a reason"


def test_cfn_lint_suppressions_carry_a_comment() -> None:
    text = Path(REPO / "template.yaml").read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(text):
        if "ignore_checks:" in line:
            item = text[i + 1]
            assert re.match(r"\s+- [A-Z]+\d+\s+# \S.{20,}", item), f"template.yaml:{i + 2}: suppression without reason"

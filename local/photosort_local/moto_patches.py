"""Small patches that fill moto's gaps for photosort's stack, each documented with what it fixes.

1. Lambda invoke runs the real handler in-process (:mod:`photosort_local.lambda_runner`), not in Docker.
2. CloudFormation creates state machines in the backend that executes them, with their type and their
   ``DefinitionSubstitutions`` applied (moto puts them in the non-executing backend, drops
   ``StateMachineType`` and ignores the substitutions).
3. S3 sends EventBridge events as S3 does: URL-encoded key, a distinct sequencer per write, ISO time.
4. EventBridge rules deliver to Step Functions targets (moto supports logs, SQS and buses only), honouring
   the target's ``Input``/``InputPath``, its retry policy and its dead-letter queue.
5. ``{"Ref": "AWS::NoValue"}`` inside a list (e.g. a policy under ``Fn::If``) removes the item, as in
   CloudFormation, instead of leaving ``None`` behind.
6. DynamoDB writes are atomic with respect to each other, as in DynamoDB: moto checks a condition and then
   writes without a lock, and rolls a failed transaction back by restoring a deep copy of the whole table,
   which undoes other threads' writes made meanwhile and costs O(table) per transaction. Here every write
   and read holds one lock, and a failed transaction is undone from copies of just the items it touched.

Speed adapters (the same engine and the same ASL, less overhead per execution; ``photosort local sort`` runs
thousands of executions):

10. The engine's Lambda tasks reuse one boto3 client per region (moto builds a new client for every task,
    which loads the service model, resolves the endpoint and registers its handlers each time).
11. Each execution re-parses the state machine's ASL (ANTLR) before running it. Parsed programs are kept in a
    pool per definition: an execution takes one (or parses a new one) and gives it back when it ends, so no
    two running executions share a program. The program keeps no state of its own between executions: the
    engine keeps an execution's state in its ``Environment`` (retry counters included, keyed per component).
    When an execution ends, the end listeners (:func:`add_end_listener`) are called: the local sort's
    workers wait on that instead of polling their executions.
12. The engine deep-copies the states' JSON input and output at every step. For JSON values (dicts, lists,
    strings, numbers, booleans, None) a plain recursive copy gives the same result several times faster;
    anything else still goes to ``copy.deepcopy``.

13-15 (:mod:`photosort_local.moto_speed`): DynamoDB Query reads only the queried partition; moto's request
    routing stops re-importing S3's URL module and rebuilding every backend's URL table on every request.

16 (:mod:`photosort_local.s3_conditions`): CopyObject honours ``CopySourceIfMatch`` and the destination's
    ``IfNoneMatch``/``IfMatch``, as S3 does (moto ignores them).

:func:`install` applies them once per process and refuses a moto version they were not tested against.
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from photosort_local import moto_fidelity, moto_speed, s3_conditions
from photosort_local.lambda_runner import LambdaRunner
from photosort_local.moto_pin import patch_once

_runners: list[LambdaRunner] = []
_sequencer = itertools.count(1)
ExecutionListener = Callable[[str, dict[str, Any]], None]
_listeners: list[ExecutionListener] = []
_end_listeners: list[Callable[[], None]] = []


def register_runner(runner: LambdaRunner) -> None:
    _runners.append(runner)


def unregister_runner(runner: LambdaRunner) -> None:
    if runner in _runners:
        _runners.remove(runner)


def add_execution_listener(listener: ExecutionListener) -> None:
    """``listener(execution_arn, event)`` is called for every execution EventBridge starts."""
    _listeners.append(listener)


def remove_execution_listener(listener: ExecutionListener) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def add_end_listener(listener: Callable[[], None]) -> None:
    """``listener()`` is called, on the engine's thread, each time an execution has ended (its status, and its
    output if it succeeded, are set): a wake-up for whoever waits on executions, instead of polling them."""
    _end_listeners.append(listener)


def remove_end_listener(listener: Callable[[], None]) -> None:
    if listener in _end_listeners:
        _end_listeners.remove(listener)


@patch_once("photosort's moto adapters")
def install() -> None:
    _patch_lambda_invoke()
    _patch_state_machine_cfn()
    _patch_s3_eventbridge()
    _patch_rule_targets()
    _patch_cfn_novalue_in_lists()
    _patch_dynamodb_atomicity()
    moto_fidelity.install()  # 7-9
    _patch_engine_lambda_client()
    _patch_program_pool()
    _patch_state_copies()
    moto_speed.install()  # 13-15
    s3_conditions.install()  # 16


# 1 ---------------------------------------------------------------------------------------------------------
def _patch_lambda_invoke() -> None:
    from moto.awslambda.models import LambdaFunction

    original = LambdaFunction.invoke

    def invoke(self: Any, body: str, request_headers: Any, response_headers: Any) -> str | bytes:
        runner = next((r for r in _runners if r.knows(self.function_name)), None)
        if runner is None:
            return original(self, body, request_headers, response_headers)
        result = runner.invoke(self.function_name, body)
        if result.function_error:
            response_headers["x-amz-function-error"] = result.function_error
        return result.payload

    LambdaFunction.invoke = invoke


# 2 ---------------------------------------------------------------------------------------------------------
def _patch_state_machine_cfn() -> None:
    from moto.stepfunctions import models as sfn_models
    from moto.stepfunctions.responses import get_backend

    def create_from_cloudformation_json(
        _cls: type[Any],
        /,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **_kwargs: Any,
    ) -> Any:
        props = cloudformation_json["Properties"]
        definition = props.get("DefinitionString") or json.dumps(props.get("Definition", {}))
        for name, value in props.get("DefinitionSubstitutions", {}).items():
            definition = definition.replace("${" + name + "}", str(value))
        return get_backend(account_id, region_name).create_state_machine(
            name=props.get("StateMachineName", resource_name),
            definition=definition,
            roleArn=props.get("RoleArn", ""),
            tags=[{"key": t["Key"], "value": t["Value"]} for t in props.get("Tags", [])],
            loggingConfiguration=_lower_keys(props.get("LoggingConfiguration")),
            tracingConfiguration=_lower_keys(props.get("TracingConfiguration")),
            sm_type=props.get("StateMachineType", "STANDARD"),
        )

    sfn_models.StateMachine.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)


def _lower_keys(value: Any) -> Any:
    """CloudFormation spells ``Level``/``Destinations``; the API model spells ``level``/``destinations``."""
    if isinstance(value, dict):
        return {k[:1].lower() + k[1:]: _lower_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lower_keys(v) for v in value]
    return value


# 3 ---------------------------------------------------------------------------------------------------------
def _patch_s3_eventbridge() -> None:
    from moto.events.models import events_backends
    from moto.s3 import notifications

    from photosort.storage import encode_event_key

    def send(account_id: str, bucket: Any, event_name: str, key: Any) -> None:
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": notifications._detail_type(event_name),
            "source": "aws.s3",
            "account": account_id,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": bucket.region_name,
            "resources": [bucket.arn],
            "detail": {
                "version": "0",
                "bucket": {"name": bucket.name},
                "object": {
                    "key": encode_event_key(key.name),
                    "size": key.size,
                    "etag": key.etag.replace('"', ""),
                    "sequencer": f"{next(_sequencer):016X}",
                    **({"version-id": key.version_id} if key.version_id and key.version_id != "null" else {}),
                },
                "request-id": uuid.uuid4().hex[:16].upper(),
                "requester": account_id,
                "reason": moto_fidelity.event_reason(event_name),
            },
        }
        backend = events_backends[account_id][bucket.region_name]
        for bus in list(backend.event_buses.values()):
            for rule in list(bus.rules.values()):
                if rule.state == "ENABLED":
                    rule.send_to_targets(event, transform_input=False)

    notifications._send_event_bridge_message = send


# 4 ---------------------------------------------------------------------------------------------------------
def _patch_rule_targets() -> None:
    from moto.events.models import Rule
    from moto.utilities.arns import parse_arn

    original = Rule.send_to_targets

    def send_to_targets(self: Any, original_event: dict[str, Any], transform_input: bool = True) -> None:
        states = [t for t in self.targets if parse_arn(t["Arn"]).service == "states"]
        if states and self.event_pattern.matches_event(original_event):
            for target in states:
                _start_execution(self, target, original_event)
        others = [t for t in self.targets if t not in states]
        if others:
            saved = self.targets
            self.targets = others
            try:
                original(self, original_event, transform_input)
            finally:
                self.targets = saved

    Rule.send_to_targets = send_to_targets


def _target_input(target: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    if "Input" in target:
        return json.loads(target["Input"])
    if "InputPath" in target:
        node: Any = event
        for part in target["InputPath"].removeprefix("$").strip(".").split("."):
            node = node[part] if part else node
        return node
    return copy.deepcopy(event)


def _start_execution(rule: Any, target: dict[str, Any], event: dict[str, Any]) -> None:
    from moto.stepfunctions.responses import get_backend
    from moto.utilities.arns import parse_arn

    arn = parse_arn(target["Arn"])
    attempts = 1 + int(target.get("RetryPolicy", {}).get("MaximumRetryAttempts", 0) or 0)
    payload = _target_input(target, event)
    last_error: Exception | None = None
    for _ in range(min(attempts, 3)):  # a missing state machine will not appear by retrying in-process
        try:
            execution = get_backend(arn.account, arn.region).start_execution(
                target["Arn"], name=str(uuid.uuid4()), execution_input=json.dumps(payload)
            )
        except Exception as exc:  # noqa: BLE001 - any failure to start goes to the dead-letter queue
            last_error = exc
            continue
        for listener in list(_listeners):
            listener(execution.exec_arn, event)
        return
    _dead_letter(rule, target, event, last_error)


def _dead_letter(rule: Any, target: dict[str, Any], event: dict[str, Any], error: Exception | None) -> None:
    """Send the event to the target's DLQ with the attributes EventBridge adds."""
    from moto.sqs.models import sqs_backends
    from moto.utilities.arns import parse_arn

    dlq = target.get("DeadLetterConfig", {}).get("Arn")
    if not dlq:
        return
    arn = parse_arn(dlq)
    sqs_backends[arn.account][arn.region].send_message(
        queue_name=arn.resource_id,
        message_body=json.dumps(event),
        message_attributes={
            "RULE_ARN": {"DataType": "String", "StringValue": rule.arn},
            "TARGET_ARN": {"DataType": "String", "StringValue": target["Arn"]},
            "ERROR_CODE": {"DataType": "String", "StringValue": type(error).__name__ if error else "Unknown"},
            "ERROR_MESSAGE": {"DataType": "String", "StringValue": str(error)[:256] or "unknown"},
        },
    )


# 5 ---------------------------------------------------------------------------------------------------------
def _patch_cfn_novalue_in_lists() -> None:
    from moto.cloudformation import parsing

    original = parsing.clean_json

    def clean_json(resource_json: Any, resources_map: Any) -> Any:
        result = original(resource_json, resources_map)
        if isinstance(resource_json, list) and isinstance(result, list):
            return [item for item in result if item is not None]
        return result

    parsing.clean_json = clean_json


# 6 ---------------------------------------------------------------------------------------------------------
class _KeepTable:
    """Stands in for the ``copy`` module inside moto's transact_write_items: no whole-table snapshot."""

    @staticmethod
    def deepcopy(value: Any, _memo: Any = None) -> Any:
        return value


def _patch_dynamodb_atomicity() -> None:
    from moto.dynamodb import models as ddb

    backend_cls = ddb.DynamoDBBackend
    lock = threading.RLock()

    def locked(method: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            with lock:
                return method(self, *args, **kwargs)

        return wrapper

    for name in ("put_item", "update_item", "delete_item", "get_item", "query", "scan", "batch_write_item"):
        if hasattr(backend_cls, name):
            setattr(backend_cls, name, locked(getattr(backend_cls, name)))

    original = backend_cls.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        with lock:
            undo = []
            for entry in transact_items:
                op = next(iter(entry.values()))
                table = self.get_table(op["TableName"])
                keys = op.get("Key") or {a: op["Item"][a] for a in (table.hash_key_attr, table.range_key_attr) if a}
                hash_key, range_key = self.get_keys_value(table, keys)
                undo.append((table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key))))
            ddb.copy = _KeepTable
            try:
                return original(self, transact_items)
            except Exception:
                for table, hash_key, range_key, before in reversed(undo):
                    _restore(table, hash_key, range_key, before)
                raise
            finally:
                ddb.copy = copy

    backend_cls.transact_write_items = transact_write_items


def _restore(table: Any, hash_key: Any, range_key: Any, before: Any) -> None:
    if range_key is None:
        table.items.pop(hash_key, None)
        if before is not None:
            table.items[hash_key] = before
        return
    table.items[hash_key].pop(range_key, None)
    if before is not None:
        table.items[hash_key][range_key] = before


# 10 --------------------------------------------------------------------------------------------------------
def _patch_engine_lambda_client() -> None:
    from moto.core.models import botocore_stubber
    from moto.settings import moto_server_port
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    from moto.stepfunctions.parser.asl.utils import boto_client

    original = boto_client.boto_client_for
    clients: dict[tuple[str, str, bool, int], Any] = {}
    lock = threading.Lock()

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        # moto's own function ignores state_credentials (the client always signs with fixed fake keys)
        key = (region, service, bool(botocore_stubber.enabled), int(moto_server_port()))
        with lock:
            client = clients.get(key)
            if client is None:
                client = clients[key] = original(region, service, state_credentials)
        return client

    lambda_eval_utils.boto_client_for = boto_client_for


# 11 --------------------------------------------------------------------------------------------------------
def _patch_program_pool() -> None:
    from moto.stepfunctions.parser.backend import execution_worker

    worker_cls = execution_worker.ExecutionWorker
    original_logic = worker_cls._execution_logic
    free: dict[str, list[Any]] = {}
    lock = threading.Lock()
    held: dict[int, tuple[str, Any]] = {}

    def _get_evaluation_entrypoint(self: Any) -> Any:
        definition = self._evaluation_details.state_machine_details.definition
        with lock:
            pool = free.get(definition)
            program = pool.pop() if pool else None
        if program is None:
            program = execution_worker.AmazonStateLanguageParser.parse(definition)[0]
        with lock:
            held[id(self)] = (definition, program)
        return program

    def _execution_logic(self: Any) -> None:
        try:
            original_logic(self)
        finally:
            with lock:
                taken = held.pop(id(self), None)
                if taken is not None:
                    free.setdefault(taken[0], []).append(taken[1])
            for listener in list(_end_listeners):
                listener()

    worker_cls._get_evaluation_entrypoint = _get_evaluation_entrypoint
    worker_cls._execution_logic = _execution_logic


# 12 --------------------------------------------------------------------------------------------------------
_JSON_SCALARS = (str, int, float, bool, type(None))


def json_copy(value: Any, _memo: Any = None) -> Any:
    """A deep copy of a JSON value (dicts and lists copied, scalars shared); other objects by copy.deepcopy."""
    kind = type(value)
    if kind is dict:
        return {k: json_copy(v) for k, v in value.items()}
    if kind is list:
        return [json_copy(v) for v in value]
    if kind in _JSON_SCALARS:
        return value
    return copy.deepcopy(value)


class _JsonCopy:
    """Stands in for the ``copy`` module inside the engine's state-data module."""

    deepcopy = staticmethod(json_copy)
    copy = staticmethod(copy.copy)


def _patch_state_copies() -> None:
    from moto.stepfunctions.parser.asl.eval import states

    states.copy = _JsonCopy

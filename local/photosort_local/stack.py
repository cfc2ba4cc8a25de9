"""The embedded stack: template.yaml deployed into moto, with the real ASL and the real handlers.

>>> with EmbeddedStack() as stack:                      # doctest: +SKIP
...     stack.s3.put_object(Bucket=stack.bucket, Key="incoming/cat.jpg", Body=data)
...     stack.wait_idle()

An upload under ``incoming/`` goes S3 -> EventBridge rule -> Step Functions (moto's engine, running
``statemachine/sort_photo.asl.json``) -> each Lambda task runs its handler in-process.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from photosort_local import (
    bedrock_adapter,
    checkout,
    lambda_errors,
    moto_distributed_map,
    moto_patches,
    sam,
    schedule_rules,
)
from photosort_local.lambda_runner import FunctionSpec, LambdaRunner

TEMPLATE = checkout.TEMPLATE
MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}}
FAKE_ACCOUNT_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}

HIDDEN_ENV_PREFIXES = ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_DEFAULT_PROFILE")
# Functions run in-process on a shared CPU (moto, other functions, a test runner): each gets this multiple of its
# deployed timeout. PHOTOSORT_LOCAL_TIMEOUT_SCALE=1 runs them at exactly the template's timeouts.
TIMEOUT_SCALE_ENV = "PHOTOSORT_LOCAL_TIMEOUT_SCALE"
DEFAULT_TIMEOUT_SCALE = 3.0


@contextlib.contextmanager
def _quiet_unsupported_resources() -> Iterator[None]:
    parsing_log = logging.getLogger("moto")  # moto.cloudformation.parsing logs under "moto"
    level = parsing_log.level
    parsing_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Tried to parse AWS::", category=UserWarning)
            yield
    finally:
        parsing_log.setLevel(level)


class StackError(RuntimeError):
    """The embedded stack could not be deployed or did not settle."""


@dataclass
class ExecutionOutcome:
    arn: str
    status: str
    key: str
    output: dict[str, Any] | None
    error: str | None
    cause: str | None


class EmbeddedStack:
    """Deploys template.yaml into moto and runs it. Use as a context manager."""

    def __init__(
        self,
        *,
        parameters: dict[str, str] | None = None,
        template: Path = TEMPLATE,
        stack_name: str = "photosort",
        region: str = "us-east-1",
        log_dir: Path | None = None,
        mock: bool = True,
        timeout_scale: float | None = None,
    ) -> None:
        self.timeout_scale = (
            timeout_scale
            if timeout_scale is not None
            else float(os.environ.get(TIMEOUT_SCALE_ENV, DEFAULT_TIMEOUT_SCALE))
        )
        self.parameters = parameters or {}
        self.template = template
        self.stack_name = stack_name
        self.region = region
        self._mock_enabled = mock
        self._mock: Any = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.log_dir = log_dir
        self.runner: LambdaRunner | None = None
        self.outputs: dict[str, str] = {}
        self._executions: dict[str, dict[str, Any]] = {}
        self._exec_lock = threading.Lock()
        self._env_saved: dict[str, str | None] = {}
        self._clients: dict[str, Any] = {}

    # -- lifecycle --------------------------------------------------------------------------------------
    def __enter__(self) -> EmbeddedStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        checkout.require(self.template)
        # Every client in this process must talk to moto: hide a user's endpoint and profile settings.
        for key in [k for k in os.environ if k.startswith(HIDDEN_ENV_PREFIXES)]:
            self._env_saved[key] = os.environ.pop(key)
        for key, value in {**FAKE_ACCOUNT_ENV, "AWS_DEFAULT_REGION": self.region}.items():
            self._env_saved.setdefault(key, os.environ.get(key))
            os.environ.setdefault(key, value)
        os.environ["AWS_DEFAULT_REGION"] = self.region
        moto_patches.install()
        moto_distributed_map.install()
        bedrock_adapter.install()
        lambda_errors.install()
        schedule_rules.install()
        if self._mock_enabled:
            from moto import mock_aws

            self._mock = mock_aws(config=MOTO_CONFIG)
            self._mock.start()
        if self.log_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="photosort-logs-")
            self.log_dir = Path(self._tmp.name)
        self.runner = LambdaRunner(log_dir=self.log_dir, timeout_scale=self.timeout_scale)
        moto_patches.register_runner(self.runner)
        moto_patches.add_execution_listener(self._on_execution)
        try:
            # moto's CloudFormation cannot create bucket or queue policies and says so for every stack. Nothing
            # enforces IAM or TLS in-process anyway; tests/static checks those policies in the template instead.
            with _quiet_unsupported_resources():
                self._deploy()
        except Exception:
            self.stop()
            raise

    def stop(self) -> None:
        moto_patches.remove_execution_listener(self._on_execution)
        if self.runner is not None:
            moto_patches.unregister_runner(self.runner)
            self.runner.close()
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        self._clients.clear()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        for key, old in self._env_saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old

    # -- clients and outputs --------------------------------------------------------------------------
    def client(self, service: str) -> Any:
        """A boto3 client for the embedded account (cached: building clients is slow)."""
        if service not in self._clients:
            # boto3-stubs types clients only for literal service names; this one is chosen at run time.
            self._clients[service] = boto3.client(service, region_name=self.region)  # type: ignore[call-overload]
        return self._clients[service]

    @property
    def s3(self) -> Any:
        return self.client("s3")

    @property
    def bucket(self) -> str:
        return self.outputs["PhotoBucketName"]

    @property
    def table(self) -> str:
        return self.outputs["PhotoTableName"]

    @property
    def state_machine_arn(self) -> str:
        return self.outputs["StateMachineArn"]

    # -- deploy ---------------------------------------------------------------------------------------------
    def _deploy(self) -> None:
        packaged, uploads = sam.package(self.template)
        s3 = self.s3
        s3.create_bucket(Bucket=sam.ARTIFACTS_BUCKET)
        for key, body in uploads.items():
            s3.put_object(Bucket=sam.ARTIFACTS_BUCKET, Key=key, Body=body)
        cfn = self.client("cloudformation")
        cfn.create_stack(
            StackName=self.stack_name,
            TemplateBody=json.dumps(packaged.template),
            Parameters=[{"ParameterKey": k, "ParameterValue": str(v)} for k, v in self.parameters.items()],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
        stack = cfn.describe_stacks(StackName=self.stack_name)["Stacks"][0]
        if stack["StackStatus"] != "CREATE_COMPLETE":
            raise StackError(
                f"stack {self.stack_name} ended in {stack['StackStatus']}: {stack.get('StackStatusReason')}"
            )
        self.outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        listed = cfn.describe_stack_resources(StackName=self.stack_name)["StackResources"]
        # moto lists resource types it cannot create (bucket and queue policies) without ids
        resources = {r["LogicalResourceId"]: r for r in listed if "LogicalResourceId" in r}
        self._apply_bucket_notifications(packaged.template, resources)
        self._register_functions(packaged, resources)

    def _apply_bucket_notifications(self, template: dict[str, Any], resources: dict[str, Any]) -> None:
        """moto's CloudFormation ignores a bucket's NotificationConfiguration; apply it through the API."""
        for logical_id, resource in template["Resources"].items():
            config = resource.get("Properties", {}).get("NotificationConfiguration")
            if resource["Type"] == "AWS::S3::Bucket" and config:
                self.s3.put_bucket_notification_configuration(
                    Bucket=resources[logical_id]["PhysicalResourceId"],
                    NotificationConfiguration={"EventBridgeConfiguration": {}}
                    if config.get("EventBridgeConfiguration", {}).get("EventBridgeEnabled")
                    else {},
                )

    def _register_functions(self, packaged: sam.PackagedTemplate, resources: dict[str, Any]) -> None:
        if self.runner is None:
            raise StackError("functions can only be registered while the stack is running")
        lam = self.client("lambda")
        # SAM names each layer after its logical id: arn:...:layer:<LogicalId>:<version>
        layer_dirs = {name: artifact.source_dir for name, artifact in packaged.layers.items()}
        for logical_id, artifact in packaged.functions.items():
            name = resources[logical_id]["PhysicalResourceId"]
            config = lam.get_function_configuration(FunctionName=name)
            self.runner.register(
                FunctionSpec(
                    name=name,
                    arn=config["FunctionArn"],
                    code_dir=artifact.source_dir,
                    handler=config["Handler"],
                    layer_dirs=[layer_dirs[layer["Arn"].split(":")[-2]] for layer in config.get("Layers", [])],
                    environment={k: str(v) for k, v in config.get("Environment", {}).get("Variables", {}).items()},
                    timeout=config.get("Timeout", 3),
                    memory_mb=config.get("MemorySize", 128),
                    region=self.region,
                )
            )

    def update_function_environment(self, function_name: str, changes: dict[str, str]) -> None:
        """Change one function's environment as a stack update would (moto's configuration and the runner's)."""
        if self.runner is None:
            raise StackError("functions can only be updated while the stack is running")
        lam = self.client("lambda")
        current = lam.get_function_configuration(FunctionName=function_name).get("Environment", {})
        variables = {k: str(v) for k, v in {**current.get("Variables", {}), **changes}.items()}
        lam.update_function_configuration(FunctionName=function_name, Environment={"Variables": variables})
        self.runner.reconfigure(function_name, variables)

    # -- executions ----------------------------------------------------------------------------------------
    def _on_execution(self, arn: str, event: dict[str, Any]) -> None:
        with self._exec_lock:
            self._executions[arn] = event

    def redeliver(self, event: dict[str, Any]) -> str:
        """Start an execution with ``event`` exactly as the rule's target would: EventBridge delivers at
        least once, so the same event can arrive again (the tests use this to prove idempotency)."""
        sfn = self.client("stepfunctions")
        arn = sfn.start_execution(
            stateMachineArn=self.state_machine_arn, name=str(uuid.uuid4()), input=json.dumps(event)
        )["executionArn"]
        self._on_execution(arn, event)
        return arn

    def executions(self) -> dict[str, dict[str, Any]]:
        with self._exec_lock:
            return dict(self._executions)

    def wait_idle(self, timeout: float = 300.0, poll: float = 0.1) -> list[ExecutionOutcome]:
        """Wait until every execution started so far has finished; return their outcomes."""
        from moto.stepfunctions.responses import get_backend

        backend = get_backend(self.state_machine_arn.split(":")[4], self.region)
        deadline = time.monotonic() + timeout
        while True:
            self._adopt(backend)
            # Read the engine's status directly: an API call per running execution per poll would compete
            # with the executions themselves for the interpreter.
            # moto can report SUCCEEDED a moment before it sets the output: wait for both.
            pending = [arn for arn in self.executions() if not _settled(backend.describe_execution(arn))]
            if not pending:
                return [self.outcome(arn) for arn in self.executions()]
            if time.monotonic() > deadline:
                keys = [self.executions()[arn].get("detail", {}).get("object", {}).get("key") for arn in pending]
                raise StackError(f"{len(pending)} execution(s) still running after {timeout}s: {keys[:5]}")
            time.sleep(poll)

    def forget(self, arn: str) -> None:
        """Drop a finished execution from the engine and from this stack's list: a long-running local sort
        would otherwise keep every execution's input, output and history (and moto looks executions up by
        scanning that list)."""
        from moto.stepfunctions.responses import get_backend

        with self._exec_lock:
            self._executions.pop(arn, None)
        machine = get_backend(self.state_machine_arn.split(":")[4], self.region).describe_state_machine(
            self.state_machine_arn
        )
        machine.executions[:] = [e for e in machine.executions if e.execution_arn != arn]

    def _adopt(self, backend: Any) -> None:
        """Executions started by anything else than the rule (the sweeper, a replay) are tracked too."""
        known = self.executions()
        for execution in list(backend.describe_state_machine(self.state_machine_arn).executions):
            if execution.execution_arn not in known:
                self._on_execution(execution.execution_arn, json.loads(execution.execution_input or "{}"))

    def outcome(self, arn: str) -> ExecutionOutcome:
        """moto's account of one execution. DescribeExecution does not exist for Express executions on AWS:
        only the embedded stack reads outcomes this way; on AWS, read the records in DynamoDB."""
        sfn = self.client("stepfunctions")
        desc = sfn.describe_execution(executionArn=arn)
        event = self.executions().get(arn, {})
        output = desc.get("output")
        return ExecutionOutcome(
            arn=arn,
            status=desc["status"],
            key=event.get("detail", {}).get("object", {}).get("key", ""),
            output=json.loads(output) if output else None,
            error=desc.get("error"),
            cause=desc.get("cause"),
        )


def _settled(execution: Any) -> bool:
    """Finished, and (when it succeeded) with its output set."""
    if execution.status == "RUNNING":
        return False
    return execution.status != "SUCCEEDED" or execution.output is not None

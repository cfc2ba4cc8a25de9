"""Run Lambda handlers in-process, the way the Lambda runtime would (moto would need Docker for this).

Each function is a "container": its handler module is imported once, from the function's CodeUri, with its
layers on ``sys.path`` and its environment variables (as deployed) set while the module initialises. Every
invocation gets a proper context object, runs under the function's timeout, and its errors come back in
Lambda's shape (``errorType``/``errorMessage``), so Step Functions sees the same error names as on AWS.
Log output (Powertools JSON lines, EMF metrics) goes to one file per function, like CloudWatch Logs.

Failures look as they do on AWS: a handler's exception comes back typed (``errorType`` = its class name); a
timeout and a crash of the runtime (out of memory) come back untyped, which Step Functions names
``Lambda.Unknown``; a throttle is not an invocation at all but the Invoke API's ``TooManyRequestsException``
(:class:`Throttled`), which Step Functions names ``Lambda.TooManyRequestsException``. :meth:`LambdaRunner.inject`
makes the next invocations of a function throttle or crash, to exercise the workflow's Retry and Catch.

A Lambda execution environment handles one event at a time; so does each container here (one per
function). Different functions run concurrently, as the steps of concurrent executions do on AWS.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import io
import json
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

# Set while a module initialises; the runtime has no X-Ray daemon, so the Tracer is switched off.
LOCAL_RUNTIME_ENV = {"POWERTOOLS_TRACE_DISABLED": "true", "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR"}


@dataclass
class FunctionSpec:
    """What the runner needs to know about one deployed function."""

    name: str
    arn: str
    code_dir: Path
    handler: str
    layer_dirs: list[Path]
    environment: dict[str, str]
    timeout: int = 3
    memory_mb: int = 128
    region: str = "us-east-1"


class LambdaContext:
    """The context object the Python runtime passes to a handler."""

    def __init__(self, spec: FunctionSpec, deadline: float) -> None:
        self.function_name = spec.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = spec.arn
        self.memory_limit_in_mb = spec.memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{spec.name}"
        self.log_stream_name = time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex
        self.identity = None
        self.client_context = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class _ThreadRoutedStream(io.TextIOBase):
    """Stands in for ``sys.stdout``: writes from a thread running a handler go to that function's log."""

    def __init__(self, fallback: Any) -> None:
        self._fallback = fallback
        self._local = threading.local()

    def route(self, target: Any | None) -> None:
        self._local.target = target

    def write(self, text: str) -> int:
        target = getattr(self._local, "target", None)
        return (target or self._fallback).write(text)

    def flush(self) -> None:
        target = getattr(self._local, "target", None)
        with contextlib.suppress(ValueError):  # the stream behind it was closed (e.g. by a test runner's capture)
            (target or self._fallback).flush()


class Throttled(Exception):
    """The Lambda service refused the invocation (rate or concurrency limit); the function did not run."""


FAULTS = ("throttle", "crash", "hang")


@dataclass
class Invocation:
    status: int
    payload: bytes
    function_error: str | None = None


@dataclass
class _Container:
    spec: FunctionSpec
    handler: Callable[[Any, Any], Any]
    log: Any
    busy: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class LambdaRunner:
    """Imports handlers (once per function) and invokes them."""

    log_dir: Path
    specs: dict[str, FunctionSpec] = field(default_factory=dict)
    _containers: dict[str, _Container] = field(default_factory=dict)
    _init_lock: threading.Lock = field(default_factory=threading.Lock)
    # Each function gets timeout x timeout_scale here: the in-process runner shares a few cores with moto and
    # every other function, so a step that takes a fraction of its timeout on Lambda can be slower here.
    timeout_scale: float = 1.0
    _faults: dict[str, list[str]] = field(default_factory=dict)
    _faults_lock: threading.Lock = field(default_factory=threading.Lock)
    hung: threading.Event = field(default_factory=threading.Event)  # set while a "hang" fault holds an invocation
    _release: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)

    def register(self, spec: FunctionSpec) -> None:
        self.specs[spec.name] = spec
        self.specs[spec.arn] = spec

    def reconfigure(self, name_or_arn: str, environment: dict[str, str]) -> None:
        """A configuration update as Lambda applies one: the new environment, and a new container on the next invoke."""
        spec = self.specs[name_or_arn]
        updated = dataclasses.replace(spec, environment=dict(environment))
        self.register(updated)
        with self._init_lock:
            old = self._containers.pop(spec.name, None)
        if old is not None:
            old.log.close()

    def close(self) -> None:
        """Shut the containers down (close their log files)."""
        with self._init_lock:
            for container in self._containers.values():
                container.log.close()
            self._containers.clear()

    def knows(self, name_or_arn: str) -> bool:
        return name_or_arn in self.specs

    def inject(self, name_or_arn: str, fault: str, times: int = 1) -> None:
        """Make the next ``times`` invocations of a function ``throttle`` (refused, never run), ``crash``, or
        ``hang`` (never return until :meth:`release`, then crash: an invocation outlived by its execution)."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; expected one of {FAULTS}")
        name = self.specs[name_or_arn].name
        with self._faults_lock:
            self._faults.setdefault(name, []).extend([fault] * times)

    def release(self) -> None:
        """Let every hanging invocation end (as crashed: its work is never done)."""
        self._release.set()

    def _next_fault(self, name: str) -> str | None:
        with self._faults_lock:
            queued = self._faults.get(name)
            return queued.pop(0) if queued else None

    # -- container start (cold start) ------------------------------------------------------------------
    def _container(self, spec: FunctionSpec) -> _Container:
        with self._init_lock:
            found = self._containers.get(spec.name)
            if found is not None:
                return found
            stream = _install_stdout_router()
            log = open(self.log_dir / f"{spec.name}.log", "a", encoding="utf-8", buffering=1)  # noqa: SIM115
            stream.route(log)
            try:
                with _environment({**_lambda_env(spec), **spec.environment, **LOCAL_RUNTIME_ENV}):
                    for layer in reversed(spec.layer_dirs):
                        if str(layer) not in sys.path:
                            sys.path.insert(0, str(layer))
                    module = _load_module(spec)
            finally:
                stream.route(None)
            handler_name = spec.handler.rpartition(".")[2]
            container = _Container(spec=spec, handler=getattr(module, handler_name), log=log)
            self._containers[spec.name] = container
            return container

    def warm(self) -> None:
        """Start every registered function's container now, as its first invocation would (a cold start
        ahead of time). An initialisation error is left for that invocation to report."""
        for name, spec in list(self.specs.items()):
            if name == spec.name:
                with contextlib.suppress(Exception):
                    self._container(spec)

    # -- invoke ---------------------------------------------------------------------------------------------
    def invoke(self, name_or_arn: str, payload: bytes | str | None) -> Invocation:
        spec = self.specs[name_or_arn.split(":$LATEST")[0]]
        fault = self._next_fault(spec.name)
        if fault == "throttle":
            raise Throttled("Rate Exceeded.")
        if fault == "crash":
            return _crashed("Runtime exited with error: signal: killed (out of memory)")
        if fault == "hang":
            self._release.clear()
            self.hung.set()
            self._release.wait(600)
            self.hung.clear()
            return _crashed("Runtime exited with error: signal: killed")
        try:
            container = self._container(spec)
        except Exception as exc:  # noqa: BLE001 - an init error is reported like Lambda's Runtime.* errors
            return _error("Runtime.ImportModuleError" if isinstance(exc, ImportError) else type(exc).__name__, exc)
        event = json.loads(payload) if payload else {}
        with container.busy:
            return _run_with_timeout(container, event, spec.timeout * self.timeout_scale)


def _run_with_timeout(container: _Container, event: Any, timeout: float) -> Invocation:
    spec = container.spec
    deadline = time.monotonic() + timeout
    context = LambdaContext(spec, deadline)
    outcome: dict[str, Any] = {}
    stream = _install_stdout_router()

    def target() -> None:
        stream.route(container.log)
        try:
            outcome["result"] = container.handler(event, context)
        except BaseException as exc:  # noqa: BLE001 - every handler error is returned, as Lambda does
            outcome["error"] = exc
        finally:
            stream.route(None)

    worker = threading.Thread(target=target, name=f"lambda:{spec.name}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        # Python cannot kill the thread; like a timed-out Lambda, its result is discarded.
        return _crashed(f"Task timed out after {spec.timeout:.2f} seconds")
    if isinstance(outcome.get("error"), MemoryError):
        return _crashed("Runtime exited with error: signal: killed (out of memory)")
    if "error" in outcome:
        return _error(type(outcome["error"]).__name__, outcome["error"])
    return Invocation(200, json.dumps(outcome.get("result")).encode())


def _crashed(message: str) -> Invocation:
    """A timeout or a dead runtime: the payload has no errorType, so Step Functions reports Lambda.Unknown."""
    body = {"errorMessage": f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {uuid.uuid4()} {message}"}
    return Invocation(200, json.dumps(body).encode(), "Unhandled")


def _error(error_type: str, exc: BaseException) -> Invocation:
    body = {
        "errorMessage": str(exc),
        "errorType": error_type,
        "requestId": str(uuid.uuid4()),
        "stackTrace": traceback.format_exception(exc)[-5:],
    }
    return Invocation(200, json.dumps(body).encode(), "Unhandled")


def _lambda_env(spec: FunctionSpec) -> dict[str, str]:
    """The reserved variables the Lambda runtime sets for every function."""
    return {
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
        "AWS_REGION": spec.region,
        "AWS_DEFAULT_REGION": spec.region,
        "LAMBDA_TASK_ROOT": str(spec.code_dir),
        "_HANDLER": spec.handler,
    }


class _environment:
    """Set variables for the duration of a module's initialisation, then restore the process environment."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)
        self._saved: dict[str, str | None] = {}

    def __enter__(self) -> None:
        for key, value in self._values.items():
            self._saved[key] = os.environ.get(key)
            os.environ[key] = value

    def __exit__(self, *exc: object) -> None:
        for key, old in self._saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


_load_counter = 0


def _load_module(spec: FunctionSpec) -> ModuleType:
    """Import ``<CodeUri>/<module>.py`` under a unique name: every function's module is called ``app``."""
    global _load_counter  # noqa: PLW0603 - unique module names across containers in one process
    module_path, _, _ = spec.handler.rpartition(".")
    file = spec.code_dir / (module_path.replace(".", "/") + ".py")
    if not file.is_file():
        raise ImportError(f"Unable to import module '{module_path}': no {file}")
    _load_counter += 1
    name = f"_photosort_lambda_{_load_counter}_{spec.name.replace('-', '_')}"
    module_spec = importlib.util.spec_from_file_location(name, file)
    if module_spec is None or module_spec.loader is None:
        raise ImportError(f"cannot load the handler module {file}")
    module = importlib.util.module_from_spec(module_spec)
    sys.path.insert(0, str(spec.code_dir))
    try:
        sys.modules[name] = module
        module_spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(spec.code_dir))
    return module


def _install_stdout_router() -> _ThreadRoutedStream:
    if not isinstance(sys.stdout, _ThreadRoutedStream):
        sys.stdout = _ThreadRoutedStream(sys.stdout)
    return sys.stdout

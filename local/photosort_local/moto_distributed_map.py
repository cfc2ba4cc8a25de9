"""moto's Distributed Map, filled in where photosort's backfill machine needs it (pinned to moto 5.2.5).

moto 5.2.5 runs a Distributed Map's ItemProcessor with its real ASL engine, but:

1. **ItemBatcher** is not in its ASL grammar, nor ``"ExecutionType": "EXPRESS"`` children: a definition using
   either does not even parse, and an integer ``ToleratedFailurePercentage`` (``5``; ``5.0`` parses) is refused.
   Here the parser is given the definition without ``ItemBatcher`` (children as STANDARD, the percentage as a
   decimal), and the batcher (``MaxItemsPerBatch``, ``BatchInput``) is kept beside the parsed Map state. At run
   time each item goes through the ItemSelector first (as on AWS), then the items are grouped into
   ``{"Items": [...], "BatchInput": {...}}``, one child per batch. ``BatchInput`` is evaluated by moto's own
   Parameters evaluator against the Map state's input (offline, EXPRESS and STANDARD children are the same
   threads).
2. **ItemReader ``s3:listObjectsV2``** makes one ListObjectsV2 call (at most 1,000 keys) and fails with a
   ``KeyError`` on an empty prefix. Here it follows ``ContinuationToken`` through every page and returns the
   items in AWS's shape: ``Key``, ``Etag`` (quoted, spelled so), ``Size``, ``LastModified`` (epoch seconds),
   ``StorageClass``. A page is asked again when moto's listing races a concurrent delete (a ``KeyError``).
3. **ToleratedFailurePercentage / ToleratedFailureCount** are parsed but never applied: a failed child is
   silently dropped from the output. Here failed items (every item of a failed batch) are counted and the Map
   fails with ``States.ExceedToleratedFailureThreshold`` when either declared threshold is exceeded (no
   threshold declared: any failure fails it, as on AWS).
4. **ResultWriter ``s3:putObject``** writes a manifest that lists no result files. Here it writes
   ``<prefix><map run id>/SUCCEEDED_0.json`` and ``FAILED_0.json`` (one entry per child, with ``Input``,
   ``Output`` or ``Error``/``Cause``, as AWS writes them) and the manifest naming them, also when the Map fails
   on its failure threshold.

5. **ItemReader ``s3:getObject`` with ``"InputType": "MANIFEST"``** (an S3 Inventory ``manifest.json``) is not
   in moto's reader (its InputType knows only CSV and JSON: the definition does not parse). Here the manifest is
   read as the ItemReader guide describes it: only a ``"fileFormat": "CSV"`` inventory (ORC and Parquet fail the
   Map with ``States.ItemReaderFailed``, as does a manifest that is not one); every gzip CSV file its ``files``
   name is read from its ``destinationBucket`` (an ARN), each row becomes an item whose fields are the
   ``fileSchema`` columns, every value a string (``{"Bucket": ..., "Key": ..., "Size": "123", ...}``), keys
   left URL-encoded as S3 Inventory writes them; ``ReaderConfig.MaxItems`` caps the rows.

MaxConcurrency is already honoured by moto (that many worker threads). What the offline run cannot show:
children are threads in one process, not executions (no ``ListExecutions`` of a Map Run, no redrive of a Map
Run, no per-child history, no Express-child time limit), the ItemReader lists the whole prefix before the first
child starts (AWS streams it), and ``MaxInputBytesPerBatch`` is refused rather than applied.
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from photosort_local.inventory import InventoryManifestError, inventory_items
from photosort_local.moto_pin import patch_once

MANIFEST = "MANIFEST"  # ReaderConfig.InputType of an S3 Inventory manifest
BATCHER_FIELDS = frozenset({"MaxItemsPerBatch", "BatchInput"})
RESULT_CHILD_PREFIX = "photosort-batch"
_configs: dict[int, MapConfig] = {}  # id(parsed Map state) -> its extra configuration
_configs_lock = threading.Lock()


class UnsupportedBatcherError(ValueError):
    """An ItemBatcher field this adapter does not implement (so the offline run would silently differ)."""


class MapConfig:
    """What the parsed Map state lost or ignores: its batcher, which thresholds it declares, its writer."""

    def __init__(self, state: dict[str, Any]) -> None:
        batcher = state.get("ItemBatcher")
        if batcher is not None:
            unknown = set(batcher) - BATCHER_FIELDS
            if unknown:
                raise UnsupportedBatcherError(f"ItemBatcher fields not supported offline: {sorted(unknown)}")
            if not isinstance(batcher.get("MaxItemsPerBatch"), int) or batcher["MaxItemsPerBatch"] < 1:
                raise UnsupportedBatcherError("ItemBatcher needs an integer MaxItemsPerBatch >= 1 offline")
        self.max_items_per_batch: int | None = batcher["MaxItemsPerBatch"] if batcher else None
        self.batch_input: Any = (
            _parameters_component(batcher["BatchInput"]) if batcher and "BatchInput" in batcher else None
        )
        self.has_count = "ToleratedFailureCount" in state or "ToleratedFailureCountPath" in state
        self.has_percentage = "ToleratedFailurePercentage" in state or "ToleratedFailurePercentagePath" in state
        writer = state.get("ResultWriter", {}).get("Parameters")
        self.writer: dict[str, str] | None = dict(writer) if writer else None


def strip_batchers(definition: dict[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The definition without any ItemBatcher, and every Map state's original JSON by state name (pure)."""
    maps: dict[str, dict[str, Any]] = {}

    def walk(states: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, original in states.items():
            state = dict(original)
            if state.get("Type") == "Map":
                maps[name] = json.loads(json.dumps(state))
                state.pop("ItemBatcher", None)
                if isinstance(state.get("ToleratedFailurePercentage"), int):
                    # moto's lexer takes only a decimal NUMBER here; AWS takes any number 0-100
                    state["ToleratedFailurePercentage"] = float(state["ToleratedFailurePercentage"])
                for inner_key in ("ItemProcessor", "Iterator"):
                    if inner_key in state:
                        inner = dict(state[inner_key])
                        inner["States"] = walk(inner.get("States", {}))
                        config = dict(inner.get("ProcessorConfig", {}))
                        if config.get("ExecutionType") == "EXPRESS":
                            config["ExecutionType"] = "STANDARD"  # moto's grammar knows only STANDARD children
                            inner["ProcessorConfig"] = config
                        state[inner_key] = inner
            elif state.get("Type") == "Parallel":
                state["Branches"] = [{**b, "States": walk(b.get("States", {}))} for b in state.get("Branches", [])]
            out[name] = state
        return out

    stripped = {**definition, "States": walk(definition.get("States", {}))}
    return stripped, maps


def batches(items: list[Any], size: int, batch_input: Any | None) -> list[dict[str, Any]]:
    """Group items as ItemBatcher does: ``{"Items": [...]}`` plus ``BatchInput`` when there is one (pure)."""
    out: list[dict[str, Any]] = []
    for start in range(0, len(items), size):
        batch: dict[str, Any] = {"Items": items[start : start + size]}
        if batch_input is not None:
            batch["BatchInput"] = batch_input
        out.append(batch)
    return out


def exceeds_tolerance(failed: int, total: int, config: MapConfig, count: int, percentage: float) -> bool:
    """AWS's rule: with no threshold declared any failure fails the Map; else exceeding either one does."""
    if failed == 0:
        return False
    if not config.has_count and not config.has_percentage:
        return True
    over_count = config.has_count and failed > count
    over_percentage = config.has_percentage and total > 0 and failed * 100.0 / total > percentage
    return over_count or over_percentage


def list_items(s3: Any, parameters: dict[str, Any]) -> list[dict[str, Any]]:
    """Every object ListObjectsV2 returns for ``parameters``, page after page, in the ItemReader's item shape."""
    items: list[dict[str, Any]] = []
    kwargs = dict(parameters)
    while True:
        page = _page(s3, kwargs)
        for obj in page.get("Contents", []):
            modified = obj["LastModified"]
            items.append(
                {
                    "Etag": obj.get("ETag", ""),
                    "Key": obj["Key"],
                    "LastModified": int(modified.timestamp()) if isinstance(modified, datetime) else modified,
                    "Size": obj.get("Size", 0),
                    "StorageClass": obj.get("StorageClass", "STANDARD"),
                }
            )
        token = page.get("NextContinuationToken")
        if not page.get("IsTruncated") or not token:
            return items
        kwargs["ContinuationToken"] = token


def _page(s3: Any, kwargs: dict[str, Any], attempts: int = 5) -> Any:
    """One ListObjectsV2 page. moto's in-process listing can raise KeyError when another thread deletes a key
    while it iterates (the per-upload workflow moving photos meanwhile); S3 lists consistently, so ask again."""
    for attempt in range(attempts):
        try:
            return s3.list_objects_v2(**kwargs)
        except KeyError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def result_entry(child: dict[str, Any], map_run_arn: str, state_machine_arn: str) -> dict[str, Any]:
    """One child's line in a ResultWriter file, in AWS's field names (pure)."""
    name = child["name"]
    entry: dict[str, Any] = {
        "ExecutionArn": f"{state_machine_arn.replace(':stateMachine:', ':execution:')}/{name}",
        "Input": json.dumps(child["input"]),
        "InputDetails": {"Included": True},
        "Name": name,
        "MapRunArn": map_run_arn,
        "StartDate": child["start"],
        "StopDate": child["stop"],
        "Status": child["status"],
    }
    if child["status"] == "SUCCEEDED":
        entry |= {"Output": json.dumps(child["output"]), "OutputDetails": {"Included": True}}
    else:
        entry |= {"Error": child.get("error") or "", "Cause": child.get("cause") or ""}
    return entry


def write_results(
    s3: Any, writer: dict[str, str], map_run_arn: str, state_machine_arn: str, children: list[dict[str, Any]]
) -> dict[str, Any]:
    """Write the result files and the manifest as AWS does; the Map state's ResultWriter output."""
    bucket, prefix = writer["Bucket"], writer.get("Prefix", "")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    base = f"{prefix}{map_run_arn.split(':')[-1]}/"
    files: dict[str, list[dict[str, Any]]] = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
    for status in ("SUCCEEDED", "FAILED"):
        entries = [result_entry(c, map_run_arn, state_machine_arn) for c in children if c["status"] == status]
        if entries:
            body = json.dumps(entries).encode()
            key = f"{base}{status}_0.json"
            s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
            files[status].append({"Key": key, "Size": len(body)})
    manifest = {"DestinationBucket": bucket, "MapRunArn": map_run_arn, "ResultFiles": files}
    key = f"{base}manifest.json"
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(manifest, indent=2).encode(), ContentType="application/json")
    return {"MapRunArn": map_run_arn, "ResultWriterDetails": {"Bucket": bucket, "Key": key}}


def _parameters_component(payload: Any) -> Any:
    """moto's own Parameters evaluator for ``payload`` (parsed from a one-state machine that passes it)."""
    program, _ = _parser["parse"](
        json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": payload, "End": True}}})
    )
    return program.states.states["P"].parameters


_parser: dict[str, Any] = {}  # "parse": moto's own AmazonStateLanguageParser.parse, kept by the patch


def _walk_maps(component: Any, found: list[Any], seen: set[int]) -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map import StateMap

    if id(component) in seen:
        return
    seen.add(id(component))
    if isinstance(component, StateMap):
        found.append(component)
        _walk_maps(component.iteration_component, found, seen)
        return
    states = getattr(component, "states", None) or getattr(component, "_states", None)
    if states is not None and hasattr(states, "states"):
        for state in states.states.values():
            _walk_maps(state, found, seen)
    for branch in getattr(getattr(component, "branches", None), "program_list", []) or []:
        _walk_maps(branch, found, seen)


def _config_for(component: Any) -> MapConfig | None:
    with _configs_lock:
        return _configs.get(id(component))


@patch_once("photosort's Distributed Map adapter")
def install() -> None:
    """Apply 1-5 (process-wide, once)."""
    _patch_parser()
    _patch_list_objects()
    _patch_map_run()
    _patch_result_writer()
    _patch_manifest_reader()


# 1 ---------------------------------------------------------------------------------------------------------
def _patch_parser() -> None:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    original_parse = _parser["parse"] = AmazonStateLanguageParser.parse

    def parse(definition: str) -> Any:
        try:
            document = json.loads(definition)
        except ValueError:
            return original_parse(definition)
        if not isinstance(document, dict) or "States" not in document:
            return original_parse(definition)
        stripped, maps = strip_batchers(document)
        if not maps:
            return original_parse(definition)
        program, tree = original_parse(json.dumps(stripped))
        found: list[Any] = []
        _walk_maps(program, found, set())
        with _configs_lock:
            for state_map in found:
                if state_map.name in maps:
                    # keyed by the iteration component: that is what runs the Map Run
                    _configs[id(state_map.iteration_component)] = MapConfig(maps[state_map.name])
        return program, tree

    AmazonStateLanguageParser.parse = staticmethod(parse)


# 2 ---------------------------------------------------------------------------------------------------------
def _patch_list_objects() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval import resource_eval_s3

    cls = resource_eval_s3.ResourceEvalS3

    def _handle_list_objects_v2(env: Any, resource_runtime_part: Any, state_credentials: Any) -> None:
        s3 = cls._get_s3_client(resource_runtime_part=resource_runtime_part, state_credentials=state_credentials)
        env.stack.append(list_items(s3, env.stack.pop()))

    cls._handle_list_objects_v2 = staticmethod(_handle_list_objects_v2)


# 3 ---------------------------------------------------------------------------------------------------------
def _select(env: Any, eval_input: Any, index: int, item: Any) -> Any:
    """The ItemSelector's output for one item (moto's evaluator, with ``$$.Map.Item`` set as AWS sets it)."""
    from moto.stepfunctions.parser.asl.eval.states import ItemData, MapData

    frame = env.open_inner_frame()
    try:
        frame.states.context_object.context_object_data["Map"] = MapData(Item=ItemData(Index=index, Value=item))
        map_input = env.stack[-1]
        frame.states.reset(input_value=map_input)
        frame.stack.append(map_input)
        eval_input.item_selector.eval(frame)
        return frame.stack.pop()
    finally:
        env.delete_frame(frame)


def _evaluate(env: Any, component: Any) -> Any:
    frame = env.open_inner_frame()
    try:
        map_input = env.stack[-1]
        frame.states.reset(input_value=map_input)
        frame.stack.append(map_input)
        component.eval(frame)
        return frame.stack.pop()
    finally:
        env.delete_frame(frame)


def _map_failure(env: Any, error_type: Any, event_type: Any, cause: str) -> Exception:
    """The engine's failure of a Map state: ``error_type`` (a States.* name) with ``cause``, as moto raises it."""
    from moto.stepfunctions.parser.api import MapRunFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    error_name = StatesErrorName(typ=error_type)
    details = MapRunFailedEventDetails(error=error_name.error_name, cause=cause)
    return FailureEventException(
        failure_event=FailureEvent(
            env=env,
            error_name=error_name,
            event_type=event_type,
            event_details=EventDetails(mapRunFailedEventDetails=details),
        )
    )


def _patch_map_run() -> None:
    from moto.stepfunctions.parser.api import HistoryEventType
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
        distributed_iteration_component as dic,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (
        distributed_item_processor_worker as dipw,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.job import JobPool
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.max_concurrency import (
        DEFAULT_MAX_CONCURRENCY_VALUE,
    )
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramEnded, ProgramError

    original_eval_job = dipw.DistributedItemProcessorWorker._eval_job

    def _eval_job(self: Any, env: Any, job: Any) -> None:
        job.photosort_start = _now()
        original_eval_job(self, env, job)
        job.photosort_stop = _now()
        state = env.program_state()
        if isinstance(state, ProgramEnded):
            job.photosort_status = "SUCCEEDED"
        else:
            error = getattr(state, "error", None) or {}
            job.photosort_status = "FAILED"
            job.photosort_error = (
                (error.get("error"), error.get("cause"))
                if isinstance(state, ProgramError)
                else (
                    "States.Runtime",
                    "the child ended without succeeding",
                )
            )

    dipw.DistributedItemProcessorWorker._eval_job = _eval_job

    def _map_run(self: Any, env: Any, eval_input: Any) -> None:
        input_items: list[Any] = env.stack.pop()
        config = _config_for(self)
        item_count = len(input_items)
        if config is not None and config.max_items_per_batch is not None:
            if eval_input.item_selector is not None:
                input_items = [_select(env, eval_input, i, item) for i, item in enumerate(input_items)]
                eval_input.item_selector = None  # applied per item above; the child gets the batch as it is
            batch_input = _evaluate(env, config.batch_input) if config.batch_input is not None else None
            input_items = batches(input_items, config.max_items_per_batch, batch_input)
        job_pool = JobPool(job_program=self._get_iteration_program(), job_inputs=input_items)
        jobs = list(reversed(job_pool._open_jobs))
        max_concurrency = eval_input.map_run_record.max_concurrency
        workers = len(input_items) if max_concurrency == DEFAULT_MAX_CONCURRENCY_VALUE else max_concurrency
        for _ in range(min(workers, max(len(input_items), 1))):
            self._launch_worker(env=env, eval_input=eval_input, job_pool=job_pool)
        if input_items:
            job_pool.await_jobs()
        worker_exception = job_pool.get_worker_exception()
        if worker_exception is not None:
            raise worker_exception
        children = [_child(job) for job in jobs]
        record = eval_input.map_run_record
        record.photosort_children = children
        if config is None:
            env.stack.append([job.job_output for job in jobs if getattr(job, "photosort_status", "") == "SUCCEEDED"])
            return
        failed_items = sum(_size(c["input"]) for c in children if c["status"] != "SUCCEEDED")
        if exceeds_tolerance(
            failed_items,
            item_count,
            config,
            eval_input.tolerated_failure_count,
            eval_input.tolerated_failure_percentage,
        ):
            if config.writer is not None:
                from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

                region = record.map_run_arn.split(":")[3]
                write_results(
                    boto_client_for(region=region, service="s3", state_credentials=None),
                    config.writer,
                    record.map_run_arn,
                    record.map_state_machine_arn,
                    children,
                )
            raise _map_failure(
                env,
                StatesErrorNameType.StatesExceedToleratedFailureThreshold,
                HistoryEventType.MapRunFailed,
                f"The specified tolerated failure threshold was exceeded: {failed_items} of {item_count} items failed",
            )
        env.stack.append([job.job_output for job in jobs if getattr(job, "photosort_status", "") == "SUCCEEDED"])

    dic.DistributedIterationComponent._map_run = _map_run


def _size(child_input: Any) -> int:
    if isinstance(child_input, dict) and isinstance(child_input.get("Items"), list):
        return len(child_input["Items"])
    return 1


def _child(job: Any) -> dict[str, Any]:
    error, cause = getattr(job, "photosort_error", (None, None))
    return {
        "name": f"{RESULT_CHILD_PREFIX}-{job.job_index}-{uuid.uuid4().hex[:8]}",
        "input": job.job_input,
        "output": job.job_output,
        "status": getattr(job, "photosort_status", "FAILED"),
        "error": error,
        "cause": cause,
        "start": getattr(job, "photosort_start", _now()),
        "stop": getattr(job, "photosort_stop", _now()),
    }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


# 4 ---------------------------------------------------------------------------------------------------------
def _patch_result_writer() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval import (
        resource_eval_s3,
    )

    cls = resource_eval_s3.ResourceEvalS3

    def _handle_put_object(env: Any, resource_runtime_part: Any, state_credentials: Any) -> None:
        parameters = env.stack.pop()
        env.stack.pop()  # the Map's outputs: with a ResultWriter they go to S3, not into the state's output
        s3 = cls._get_s3_client(resource_runtime_part=resource_runtime_part, state_credentials=state_credentials)
        record = env.map_run_record_pool_manager.get_all()[-1]
        children = getattr(record, "photosort_children", [])
        env.stack.append(write_results(s3, parameters, record.map_run_arn, record.map_state_machine_arn, children))

    cls._handle_put_object = staticmethod(_handle_put_object)


# 5 ---------------------------------------------------------------------------------------------------------
def _patch_manifest_reader() -> None:
    from moto.stepfunctions.parser.api import HistoryEventType
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader import item_reader_decl
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval.resource_output_transformer.transformer import (  # noqa: E501
        ResourceOutputTransformer,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.reader_config import input_type
    from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

    original_init = input_type.InputType.__init__

    def __init__(self: Any, input_type: str) -> None:
        if input_type == MANIFEST:
            self.input_type_value = MANIFEST  # moto's enum has no member for it; the reader below checks the name
            return
        original_init(self, input_type)

    input_type.InputType.__init__ = __init__

    class ManifestTransformer(ResourceOutputTransformer):  # type: ignore[misc]  # moto is untyped
        def _eval_body(self, env: Any) -> None:
            reader_config = env.stack.pop()
            manifest_text = env.stack.pop()
            s3 = boto_client_for(region=env.aws_execution_details.region, service="s3", state_credentials=None)
            try:
                items = inventory_items(s3, manifest_text, reader_config.get("MaxItemsValue"))
            except (InventoryManifestError, KeyError) as exc:
                raise _map_failure(
                    env,
                    StatesErrorNameType.StatesItemReaderFailed,
                    HistoryEventType.TaskFailed,
                    f"S3 Inventory manifest: {exc}",
                ) from exc
            env.stack.append(items)

    original_for = item_reader_decl.resource_output_transformer_for

    def resource_output_transformer_for(input_type: Any) -> Any:
        if input_type.input_type_value == MANIFEST:
            return ManifestTransformer()
        return original_for(input_type)

    item_reader_decl.resource_output_transformer_for = resource_output_transformer_for

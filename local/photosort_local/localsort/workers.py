"""Workers of the local sort: each runs its own embedded stack (template.yaml in moto, the real ASL on moto's
engine, the real handlers) and sorts the photos it is handed, a few at a time.

A photo is uploaded under ``incoming/``, which starts its execution exactly as on AWS; when the execution ends,
the worker reads the photo's record from the stack's table and sends it back, then deletes what the stack still
holds of it (the sorted object, its thumbnail, its record and album entries, the finished execution), so a
worker's memory does not grow with the library. The hash claims stay (a few small items per photo).

``--jobs 1`` runs the worker in the calling process (:class:`InlineWorker`); more jobs run one process each
(:class:`ProcessWorker`), so executions use every core.
"""

from __future__ import annotations

import collections
import contextlib
import gc
import multiprocessing
import os
import queue
import random
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from photosort_local.stack import EmbeddedStack

STALL_TIMEOUT = 180.0  # seconds an execution may run before it counts as stuck
WAKE = 0.5  # seconds a worker waits for a task or an execution's end before it checks on the others
MMAP_THRESHOLD = 8 * 2**20  # see ProcessPool
WORKER_ENV = {"MALLOC_ARENA_MAX": "2", "MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD), "OPENBLAS_NUM_THREADS": "1"}
START_TIMEOUT = 600.0  # a worker's stack deploys in seconds; a loaded machine can take much longer
# The estimated memory of the photos one worker runs at a time (see photo_weight); a photo larger than that
# runs alone. A worker's stack and models take about 380 MB before any photo.
MEMORY_BUDGET = 128 * 2**20


def photo_weight(path: str) -> int:
    """An estimate of the memory a photo takes while its execution runs, in bytes: its bytes held about four
    times at once (the upload, moto's copy of an object, a handler's read; measured with tracemalloc) and its
    decoded pixels twice (RGB, and a converted copy). The size is read from the file's header, not decoded;
    a file that cannot be opened weighs its bytes only (its error is reported by the workflow)."""
    try:
        size = os.path.getsize(path)
    except OSError:
        return 0
    pixels = 0
    try:
        from PIL import Image

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as image:
                pixels = image.width * image.height
    except Exception:  # noqa: BLE001, S110 - not an image PIL reads: the workflow says what it is
        pass
    return 4 * size + 6 * pixels


@dataclass(frozen=True)
class Task:
    seq: int
    key: str
    path: str
    sha256: str


@dataclass(frozen=True)
class Result:
    seq: int
    record: str | None  # the ImageRecord as JSON, as the stack's table holds it
    error: str | None  # why there is no record


class WorkerError(RuntimeError):
    """A worker could not start, or died."""


class StackWorker:
    """Sorts photos through one embedded stack; not thread-safe (one caller)."""

    def __init__(self, parameters: dict[str, str]) -> None:
        from photosort_local import moto_patches
        from photosort_local.stack import EmbeddedStack

        self._stack: EmbeddedStack = EmbeddedStack(parameters=parameters)
        self._stack.start()
        self._upload = _upload_client(self._stack)
        self._arns: dict[str, tuple[str, dict[str, Any]]] = {}  # source key -> (execution arn, its event)
        self._pending: dict[str, tuple[Task, float, int]] = {}  # uploaded: key -> (task, started, weight)
        self._waiting: collections.deque[tuple[Task, int]] = collections.deque()  # not uploaded yet
        self._failed: list[Result] = []  # could not be uploaded
        self._executions: dict[str, Any] = {}  # execution arn -> the engine's object, while it runs
        self._in_flight = 0  # the estimated memory of the uploaded photos, in bytes
        self.on_end: Callable[[], None] = lambda: None  # called (on the engine's thread) when an execution ends
        moto_patches.add_execution_listener(self._on_execution)
        moto_patches.add_end_listener(self._ended)
        from moto.stepfunctions.responses import get_backend

        account = self._stack.state_machine_arn.split(":")[4]
        self._backend = get_backend(account, self._stack.region)
        from moto.dynamodb.models import dynamodb_backends
        from moto.s3.models import s3_backends

        self._s3_backend = s3_backends[account]["aws"]
        self._ddb_backend = dynamodb_backends[account][self._stack.region]

    def warm(self) -> None:
        """Initialise every function's container now (import its handler, load its models), as the first
        invocation would."""
        runner = self._stack.runner
        if runner is not None:
            runner.warm()

    def close(self) -> None:
        from photosort_local import moto_patches

        moto_patches.remove_execution_listener(self._on_execution)
        moto_patches.remove_end_listener(self._ended)
        self._stack.stop()

    def _ended(self) -> None:
        self.on_end()

    def _on_execution(self, arn: str, event: dict[str, Any]) -> None:
        from photosort.storage import key_candidates

        key = event.get("detail", {}).get("object", {}).get("key", "")
        self._arns[key_candidates(key)[0]] = (arn, event)

    @property
    def pending(self) -> int:
        """Photos handed to this worker whose result was not returned yet (uploaded or waiting)."""
        return len(self._pending) + len(self._waiting) + len(self._failed)

    def submit(self, task: Task) -> None:
        """Take a photo; it is uploaded (its execution starts) as soon as the memory budget allows."""
        self._waiting.append((task, photo_weight(task.path)))
        self._start_waiting()

    def _start_waiting(self) -> None:
        """Upload waiting photos while their estimated memory fits in ``MEMORY_BUDGET`` (one at least)."""
        while self._waiting:
            task, weight = self._waiting[0]
            if self._pending and self._in_flight + weight > MEMORY_BUDGET:
                return
            self._waiting.popleft()
            try:
                with Path(task.path).open("rb") as body:
                    self._upload.put_object(Bucket=self._stack.bucket, Key=task.key, Body=body)
            except OSError as exc:
                self._failed.append(Result(task.seq, None, f"could not read {task.path}: {exc.strerror or exc}"))
                continue
            self._pending[task.key] = (task, time.monotonic(), weight)
            self._in_flight += weight

    def poll(self) -> list[Result]:
        """Results of the executions that ended since the last call."""
        from photosort_local.stack import _settled

        done, self._failed = self._failed, []
        for key, (task, started, _weight) in list(self._pending.items()):
            arn = self._arns.get(key, ("", {}))[0] or None
            if arn is None:
                done.append(self._finish(task, None, "no execution started for this upload"))
            elif _settled(self._execution(arn)):
                done.append(self._finish(task, arn, None))
            elif time.monotonic() - started > STALL_TIMEOUT:
                done.append(self._finish(task, arn, f"the execution made no progress in {STALL_TIMEOUT:.0f} s"))
        if done:
            self._start_waiting()
        return done

    def _execution(self, arn: str) -> Any:
        """The engine's execution object (looked up once: moto's lookup checks the ARN and scans its list)."""
        found = self._executions.get(arn)
        if found is None:
            found = self._executions[arn] = self._backend.describe_execution(arn)
        return found

    def _finish(self, task: Task, arn: str | None, error: str | None) -> Result:
        self._in_flight -= self._pending.pop(task.key)[2]
        _arn, event = self._arns.pop(task.key, ("", {}))
        records = (read_record(self._ddb_backend, self._stack.table, i) for i in _image_ids(event))
        record = next(filter(None, records), None)
        if record is None and error is None and arn is not None:
            outcome = self._stack.outcome(arn)
            error = f"{outcome.error}: {(outcome.cause or '')[:300]}" if outcome.error else "no record was written"
        if arn is not None:
            self._executions.pop(arn, None)
            self._stack.forget(arn)
        if record is not None:
            self._clean(record)
        self._delete_object(task.key)
        if record is None:
            return Result(task.seq, None, error or "no record was written")
        return Result(task.seq, record.model_dump_json(), None)

    def _delete_object(self, key: str) -> None:
        self._s3_backend.delete_object(self._stack.bucket, key)

    def _clean(self, record: Any) -> None:
        """Forget a finished photo: the bytes of its sorted copy and thumbnail, its record and album entries.

        This is the worker's housekeeping, not the workflow: it goes to moto's backends directly (the same
        deletes, without building, signing, parsing and serialising a request for each).
        """
        from moto.dynamodb.models.dynamo_type import DynamoType

        from photosort import thumbnails
        from photosort.repository import image_key
        from photosort_local.moto_speed import partition_items

        self._delete_object(record.destination_key)
        self._delete_object(thumbnails.thumbnail_key(record.image_id))
        table = self._stack.table
        self._ddb_backend.delete_item(table, image_key(record.image_id))
        image_id = DynamoType({"S": record.image_id})
        for membership in record.memberships:
            entries = partition_items(
                self._ddb_backend.get_table(table), DynamoType({"S": f"ALBUM#{membership.album}"})
            )
            for item in entries:
                if item.attrs.get("image_id") == image_id:
                    self._ddb_backend.delete_item(
                        table, {"PK": item.attrs["PK"].to_json(), "SK": item.attrs["SK"].to_json()}
                    )


def read_record(ddb_backend: Any, table: str, image_id: str) -> Any:
    """``Repository.get(image_id)``, read from moto's DynamoDB backend directly: the worker's own read of a
    finished photo's record (housekeeping, like :meth:`StackWorker._clean`), without building, signing,
    parsing and serialising a GetItem. The item is taken in the wire form a GetItem returns, binary values
    decoded as botocore decodes them, and read by the repository's own decoder."""
    import base64

    from photosort.repository import decode_record, image_key

    item = ddb_backend.get_item(table, image_key(image_id))
    if item is None:
        return None
    attributes: dict[str, Any] = {}
    for name, value in item.to_json()["Attributes"].items():
        ((kind, raw),) = value.items()
        attributes[name] = (
            {"B": base64.b64decode(raw) if isinstance(raw, str) else bytes(raw)} if kind == "B" else value
        )
    return decode_record(attributes)


def _upload_client(stack: EmbeddedStack) -> Any:
    """The client that uploads the user's photos, as ``aws s3 cp`` would, but without a flexible checksum.

    botocore's default (``when_supported``) sends a PutObject body aws-chunked with a CRC32 trailer; moto
    decodes such a body by concatenating its chunks, holding several copies of the photo at once (five of a
    16 MB photo, measured with tracemalloc). ``when_required`` sends the body as it is, which S3 accepts just
    the same: the object, its ETag and its event do not change. The handlers' own clients keep the default.
    """
    import boto3
    from botocore.config import Config

    return boto3.client("s3", region_name=stack.region, config=Config(request_checksum_calculation="when_required"))


def _image_ids(event: dict[str, Any]) -> list[str]:
    """The ids the workflow gives the record of the upload ``event`` announced (one per form of its key: the
    event's key is URL-encoded, and Inspect names the record after the key it found)."""
    from photosort.models import ObjectRef
    from photosort.pipeline import image_id
    from photosort.storage import key_candidates

    detail = event.get("detail", {})
    obj = detail.get("object", {})
    if not obj.get("key"):
        return []
    ref = ObjectRef(
        bucket=detail.get("bucket", {}).get("name", ""),
        key=obj["key"],
        size=int(obj.get("size") or 0),
        etag=obj.get("etag") or None,
        version_id=obj.get("version-id") or None,
        sequencer=obj.get("sequencer") or None,
    )
    return [image_id(ref.model_copy(update={"key": key})) for key in key_candidates(ref.key)]


class Pool(Protocol):
    """Workers, each with its own stack; ``submit(n, task)`` hands a task to worker ``n``."""

    jobs: int

    @property
    def ready(self) -> bool:
        """Whether every worker's stack is up (tasks may be submitted before: they wait)."""
        ...

    def submit(self, worker: int, task: Task) -> None: ...
    def results(self, timeout: float) -> list[tuple[int, Result]]: ...
    def close(self) -> None: ...


class InlinePool:
    """One :class:`StackWorker` in this process (``--jobs 1``)."""

    jobs = 1
    ready = True

    def __init__(self, parameters: dict[str, str]) -> None:
        self._worker = StackWorker(parameters)
        self._ended = threading.Event()
        self._worker.on_end = self._ended.set

    def submit(self, worker: int, task: Task) -> None:
        del worker
        self._worker.submit(task)

    def results(self, timeout: float) -> list[tuple[int, Result]]:
        deadline = time.monotonic() + timeout
        while True:
            self._ended.clear()  # an execution that ends from here on sets it again: none is missed
            ready = self._worker.poll()
            left = deadline - time.monotonic()
            if ready or left <= 0 or not self._worker.pending:
                return [(0, r) for r in ready]
            self._ended.wait(left)

    def close(self) -> None:
        self._worker.close()


def _serve(jobs: int, parameters: dict[str, str], tasks: list[Any], results: Any) -> None:
    """The first worker process: start and warm one stack, fork the other workers from it, then be worker 0.

    Forking after the stack is deployed and every function's container is initialised (handlers imported,
    models loaded) gives each worker its own copy of that stack without deploying it again, and the pages
    none of them writes to (moto's and the libraries' code and data, the models' weights) stay shared.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it stops the workers
    from photosort_local.cli.common import quiet_libraries

    quiet_libraries()
    parent = os.getppid()
    try:
        worker = StackWorker(parameters)
        worker.warm()
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails the run with it
        results.put(("failed", 0, f"{type(exc).__name__}: {exc}"))
        return
    # The stack's objects (moto's models, the handlers' modules, the models' sessions) live as long as the
    # worker: frozen, the garbage collector never walks them again. Walking them wrote to every page that
    # holds one, so the first full collection after the fork copied the pages the workers shared (a step
    # of some 70 MB in the sum of PSS), and each full collection cost the time to walk them.
    gc.collect()
    gc.freeze()
    children: dict[int, int] = {}
    for index in range(1, jobs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # native library threads are idle (tested)
            pid = os.fork()
        if pid == 0:
            random.seed()
            code = 0
            try:
                _work(index, worker, tasks[index], results, os.getppid(), {})
            except BaseException:  # noqa: BLE001 - the parent sees the exit code
                code = 1
            finally:
                sys.stdout.flush()
                os._exit(code)  # no clean-up of the copied stack: the first worker owns its files
        children[pid] = index
    try:
        _work(0, worker, tasks[0], results, parent, children)
    finally:
        orphaned = os.getppid() != parent  # the parent was killed: the other workers are not told to stop
        for pid in children:
            with contextlib.suppress(ProcessLookupError, ChildProcessError):
                if orphaned:
                    os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
        worker.close()
    # Done: hand the last results to the parent, then leave without tearing the interpreter down (freeing a
    # stack's worth of objects one by one took a second that the parent spent waiting in join).
    results.close()
    results.join_thread()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


_ENDED = "ended"  # an execution ended: poll the worker


def _feed(tasks: Any, inbox: queue.SimpleQueue[Any]) -> None:
    """Move the tasks the parent sends into ``inbox``, up to the None that stops the worker."""
    while True:
        item = tasks.get()
        inbox.put(item)
        if item is None:
            return


def _work(index: int, worker: StackWorker, tasks: Any, results: Any, parent: int, children: dict[int, int]) -> None:
    """Sort what arrives on ``tasks`` until None, or until ``parent`` is gone; report dead ``children``.

    The loop sleeps until something happens: a task arrives (moved from ``tasks`` by a feeder thread) or an
    execution ends (the engine's end listener). Polling the executions every few milliseconds instead cost a
    few per cent of a worker's CPU."""
    inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
    worker.on_end = lambda: inbox.put(_ENDED)
    threading.Thread(target=_feed, args=(tasks, inbox), name="photosort-sort-feed", daemon=True).start()
    results.put(("ready", index, None))
    while True:
        try:
            item = inbox.get(timeout=WAKE)
        except queue.Empty:
            item = ()  # nothing happened: still poll, for a stalled execution
        if item is None or os.getppid() != parent:  # stopped, or the parent was killed: do not linger
            return
        if children:
            _report_dead(children, results)
        if item and item != _ENDED:
            worker.submit(item)
        if not inbox.empty():
            continue  # take every waiting task (and end) before polling once for all of them
        for result in worker.poll():
            results.put(("result", index, result))


def _report_dead(children: dict[int, int], results: Any) -> None:
    try:
        pid, status = os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return
    if pid and pid in children:
        results.put(("died", children.pop(pid), f"exit status {status}"))


class ProcessPool:
    """``jobs`` worker processes, each with its own stack: the first deploys and warms it, then forks the rest."""

    def __init__(self, jobs: int, parameters: dict[str, str]) -> None:
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited threads or moto state
        self.jobs = jobs
        self._starting = set(range(jobs))  # workers that have not said they are ready
        self._start_deadline = time.monotonic() + START_TIMEOUT
        self._found: list[tuple[int, Result]] = []  # results received, not yet taken
        self._results: Any = context.Queue()
        self._tasks: list[Any] = [context.Queue() for _ in range(jobs)]
        self._process = context.Process(
            target=_serve,
            args=(jobs, parameters, self._tasks, self._results),
            name="photosort-sort-worker",
            daemon=True,
        )
        # Many short-lived threads (one per execution, one per Lambda invocation) each get a malloc arena of
        # their own by default, and glibc keeps the arenas' freed memory: two arenas keep a worker's RSS flat.
        # A fixed mmap threshold: glibc raises its threshold (up to 32 MB) each time a large block is freed, so
        # the buffers of a large photo (its bytes, its decoded pixels) end up in the heap, which keeps them
        # after the photo is done; above 8 MB they are mapped and go back to the system when freed. Below it
        # they reuse the heap's memory: at 256 KB, every buffer of every photo was mapped and faulted in afresh
        # (3.3 million page faults and 15 s of system CPU for 1,000 photos, against 1.5 million and 9 s).
        # One BLAS thread per worker: the workers already use every core.
        saved = {name: os.environ.get(name) for name in WORKER_ENV}
        for name, value in WORKER_ENV.items():
            os.environ.setdefault(name, value)
        try:
            self._process.start()
        finally:
            for name, old in saved.items():
                if old is None:
                    os.environ.pop(name, None)

    @property
    def ready(self) -> bool:
        if self._starting:
            self._receive(0.0)
        return not self._starting

    def _receive(self, timeout: float) -> None:
        """Take the workers' messages: one within ``timeout``, then every one already there. A result is kept
        for :meth:`results`; a worker that could not start, died, or is still starting after
        ``START_TIMEOUT`` fails the run."""
        if self._starting and time.monotonic() > self._start_deadline:
            raise WorkerError(f"{len(self._starting)} sort worker(s) did not start within {START_TIMEOUT:.0f} s")
        try:
            message = self._results.get(timeout=timeout) if timeout > 0 else self._results.get_nowait()
        except queue.Empty:
            self._check_alive()
            return
        while True:
            kind, index, detail = message
            if kind == "ready":
                self._starting.discard(index)
            elif kind == "failed":
                raise WorkerError(f"a sort worker could not start its stack: {detail}")
            elif kind == "died":
                raise WorkerError(f"sort worker {index} died ({detail})")
            else:
                self._found.append((index, detail))
            try:
                message = self._results.get_nowait()
            except queue.Empty:
                return

    def _check_alive(self) -> None:
        if not self._process.is_alive():
            raise WorkerError(f"sort worker {self._process.name} died (exit code {self._process.exitcode})")

    def submit(self, worker: int, task: Task) -> None:
        self._tasks[worker].put(task)

    def results(self, timeout: float) -> list[tuple[int, Result]]:
        if not self._found:
            self._receive(timeout)
        found, self._found = self._found, []
        return found

    def close(self) -> None:
        for tasks in self._tasks:
            with contextlib.suppress(Exception):
                tasks.put(None)
        self._process.join(30)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)


def start_pool(jobs: int, parameters: dict[str, str]) -> Pool:
    """``jobs`` workers. More than one start in their own processes, and this returns while they deploy their
    stacks (``Pool.ready`` says when they are up): the caller can hash what comes next meanwhile."""
    if jobs == 1:
        return InlinePool(parameters)
    return ProcessPool(jobs, parameters)

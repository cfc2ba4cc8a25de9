"""``photosort local serve``: the embedded stack behind moto's HTTP server, until Ctrl-C or SIGTERM.

moto keeps its backends in module-level state, so a :class:`moto.server.ThreadedMotoServer` started in the
process that runs the :class:`~photosort_local.stack.EmbeddedStack` serves the very same bucket, table and
state machine: an upload through the server raises the S3 event in-process, which starts an execution whose
Lambda tasks run here too. Their boto3 clients stay inside the stack's active mock (no HTTP round trip).
"""

from __future__ import annotations

import json
import shlex
import signal
import socket
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from moto.server import ThreadedMotoServer

from photosort.storage import encode_event_key
from photosort_local.samples import find_sample
from photosort_local.stack import FAKE_ACCOUNT_ENV, EmbeddedStack

SAMPLE_EVENT = Path(__file__).resolve().parents[2] / "events" / "s3_object_created.json"
READY = "Ready. Press Ctrl-C to stop."


class PortInUseError(OSError):
    """Something else is listening on the requested address."""


def check_port_free(host: str, port: int) -> None:
    """Bind once to fail early and clearly: moto's server thread would hang on a port that is taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # the server sets SO_REUSEADDR too, so a port in TIME_WAIT is not reported as taken
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise PortInUseError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another with --port"
            ) from exc


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stop``; signal handlers can only be installed from the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in saved:
        signal.signal(sig, lambda *_: stop.set())
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


SAM_SAMPLE_KEY = "sam-local/chelsea.png"  # outside incoming/: no rule sorts it before `sam local invoke` reads it


def _write_sam_files(stack: EmbeddedStack, port: int, folder: Path) -> tuple[Path, Path]:
    """An ``--env-vars`` file and an S3 event for ``sam local invoke`` against this stack from Docker.

    The env file sets ``AWS_ENDPOINT_URL`` to ``host.docker.internal``: inside the container 127.0.0.1 is the
    container itself, and the file's values win over the shell's (SAM CLI's order: file, shell, template).
    The event names a real object, uploaded here outside ``incoming/`` so that the rule never sorts it away.
    """
    env_file = folder / "sam-env.json"
    variables = {
        "AWS_ENDPOINT_URL": f"http://host.docker.internal:{port}",
        "PHOTOSORT_TABLE_NAME": stack.table,
        "PHOTOSORT_BACKEND": stack.parameters.get("ClassifierBackend", "local"),
        "PHOTOSORT_RULES": stack.parameters.get("RoutingRules", "family"),
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    env_file.write_text(json.dumps({"Parameters": variables}, indent=2), encoding="utf-8")
    s3 = stack.s3
    s3.put_object(Bucket=stack.bucket, Key=SAM_SAMPLE_KEY, Body=find_sample("chelsea").read_bytes())
    head = s3.head_object(Bucket=stack.bucket, Key=SAM_SAMPLE_KEY)
    event = json.loads(SAMPLE_EVENT.read_text(encoding="utf-8"))
    event["resources"] = [f"arn:aws:s3:::{stack.bucket}"]
    event["detail"]["bucket"]["name"] = stack.bucket
    event["detail"]["object"].update(
        key=encode_event_key(SAM_SAMPLE_KEY), size=head["ContentLength"], etag=head["ETag"].strip('"')
    )
    event_file = folder / "s3-event.json"
    event_file.write_text(json.dumps(event, indent=2), encoding="utf-8")
    return env_file, event_file


def _dead_letter_queue_url(stack: EmbeddedStack) -> str:
    return stack.outputs.get("DeadLetterQueueUrl", "")


def _print_guide(
    stack: EmbeddedStack, endpoint: str, sam_files: tuple[Path, Path], out: IO[str], gallery_url: str | None = None
) -> None:
    ep = f"--endpoint-url {endpoint}"
    values = shlex.quote(json.dumps({":pk": {"S": "ALBUM#pets"}}))
    creds = " ".join(f"{k}={v}" for k, v in FAKE_ACCOUNT_ENV.items() if k != "AWS_DEFAULT_REGION")
    dlq = _dead_letter_queue_url(stack)
    lines = [
        f"photosort stack serving on {endpoint} (S3, DynamoDB, EventBridge, Step Functions, Lambda, SQS)",
        f"  stack          {stack.stack_name}",
        f"  bucket         {stack.bucket}",
        f"  table          {stack.table}",
        f"  state machine  {stack.state_machine_arn}",
        f"  dead letters   {dlq}",
        f"  lambda logs    {stack.log_dir}",
        *([f"  gallery        {gallery_url}  (the albums API under {gallery_url}api/)"] if gallery_url else []),
        "",
        "Environment for AWS tools (boto3 and AWS CLI v2 read AWS_ENDPOINT_URL; CLI v1 needs --endpoint-url):",
        f"  export AWS_ENDPOINT_URL={endpoint} {creds} AWS_DEFAULT_REGION={stack.region}",
        "",
        *([f"Open the gallery: {gallery_url}", ""] if gallery_url else []),
        "Try:",
        f"  aws {ep} s3 cp photo.jpg s3://{stack.bucket}/incoming/",
        f"  aws {ep} s3 ls s3://{stack.bucket}/ --recursive",
        f"  photosort albums {ep} --table {stack.table}",
        (
            f"  aws {ep} dynamodb query --table-name {stack.table} "
            f"--key-condition-expression 'PK = :pk' --expression-attribute-values {values}"
        ),
        f"  aws {ep} sqs get-queue-attributes --queue-url {dlq} --attribute-names ApproximateNumberOfMessages",
        f"  photosort replay-dlq {ep} --stack {stack.stack_name}",
        "",
        "One function in Docker against this stack (start serve with --host 0.0.0.0 on Linux):",
        (
            f"  sam local invoke ClassifyFunction --env-vars {sam_files[0]} --event {sam_files[1]} "
            "--add-host host.docker.internal:host-gateway"
        ),
        f"  (the event names s3://{stack.bucket}/{SAM_SAMPLE_KEY}, a sample photo outside incoming/)",
        "",
        READY,
    ]
    print("\n".join(lines), file=out, flush=True)


def serve(
    stack: EmbeddedStack,
    host: str,
    port: int,
    out: IO[str],
    stop: threading.Event | None = None,
    gallery_port: int | None = None,
) -> None:
    """Serve ``stack`` on ``host:port`` (0 picks a free port) until ``stop`` is set or a signal arrives; with
    ``gallery_port``, the gallery page and albums API too (photosort_local.gallery)."""
    from photosort_local.gallery import GalleryServer

    check_port_free(host, port)  # again: the stack took a few seconds to start
    if gallery_port:
        check_port_free("127.0.0.1", gallery_port)
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    stop = stop or threading.Event()
    gallery = None
    try:
        bound_host, bound_port = server.get_host_and_port()
        shown = "127.0.0.1" if bound_host in ("0.0.0.0", "") else bound_host  # noqa: S104 - a comparison, not a bind
        endpoint = f"http://{shown}:{bound_port}"
        if gallery_port is not None:
            # loopback only, whatever --host says: the gallery stands in for the API's authorizer
            gallery = GalleryServer(stack, endpoint, "127.0.0.1", gallery_port).start()
        with tempfile.TemporaryDirectory(prefix="photosort-serve-") as folder, _stop_on_signals(stop):
            sam_files = _write_sam_files(stack, bound_port, Path(folder))
            _print_guide(stack, endpoint, sam_files, out, gallery.url if gallery else None)
            while not stop.wait(0.5):
                pass
    finally:
        if gallery is not None:
            gallery.stop()
        server.stop()

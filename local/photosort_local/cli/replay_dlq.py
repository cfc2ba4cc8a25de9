"""``photosort replay-dlq``: start one execution for each event in the rule's dead-letter queue, then delete it.

Each message in the queue is an S3 "Object Created" event that EventBridge could not deliver. Every replay
gets an explicit execution name, ``dlq-<SQS message id>``: a message received twice (its delete failed, or
two drains ran at once) maps to the same name, and Step Functions refuses the second start with
``ExecutionAlreadyExists`` instead of sorting the photo twice; that message is then deleted as already
replayed. Any other failure stops the drain with exit status 1 and leaves the message in the queue (it
becomes visible again after the visibility timeout).

    photosort replay-dlq --stack photosort                                   # on AWS
    photosort replay-dlq --stack photosort --endpoint-url http://127.0.0.1:5000   # against local serve
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from photosort.errors import PhotosortError
from photosort_local import endpoints

if TYPE_CHECKING:
    from photosort_local.cli.common import Subcommands

NAME_PREFIX = "dlq-"
VISIBILITY_TIMEOUT = 120  # seconds a received message stays hidden while its execution starts


class ReplayError(PhotosortError):
    """A dead-letter message could not be replayed; it stays in the queue."""


@dataclass
class Drained:
    started: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)


def execution_name(message_id: str) -> str:
    """``dlq-<message id>``: SQS message ids are UUIDs, well inside Step Functions' 80 characters."""
    return f"{NAME_PREFIX}{message_id}"[:80]


def _object_key(body: dict[str, Any]) -> str:
    return str(body.get("detail", {}).get("object", {}).get("key", "?"))


def drain(sqs: Any, sfn: Any, queue_url: str, state_machine_arn: str, *, out: Any = sys.stdout) -> Drained:
    """Replay every message until the queue answers empty. Raises :class:`ReplayError` on the first failure."""
    done = Drained()
    while True:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=VISIBILITY_TIMEOUT, WaitTimeSeconds=1
        ).get("Messages", [])
        if not messages:
            return done
        for message in messages:
            name = execution_name(message["MessageId"])
            try:
                body = json.loads(message["Body"])
            except ValueError as exc:
                raise ReplayError(f"message {message['MessageId']} is not JSON ({exc}); it stays in the queue") from exc
            if not isinstance(body, dict) or body.get("source") != "aws.s3":
                raise ReplayError(f"message {message['MessageId']} is not an S3 event; it stays in the queue")
            try:
                sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=message["Body"])
                done.started.append(name)
                print(f"started   {name}  {_object_key(body)}", file=out, flush=True)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
                    raise ReplayError(
                        f"could not start {name} for {_object_key(body)}: {exc}; the message stays in the queue"
                    ) from exc
                done.already.append(name)
                print(f"replayed  {name}  {_object_key(body)} (already started before)", file=out, flush=True)
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def _stack_outputs(cfn: Any, stack: str) -> dict[str, str]:
    try:
        described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    except ClientError as exc:
        raise ReplayError(f"cannot read stack {stack}: {exc}") from exc
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


def run(args: argparse.Namespace) -> int:
    session = endpoints.session(args.endpoint_url, args.region)

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=args.endpoint_url)

    queue_url, machine = args.queue_url, args.state_machine_arn
    if not (queue_url and machine):
        outputs = _stack_outputs(client("cloudformation"), args.stack)
        missing = [k for k in ("DeadLetterQueueUrl", "StateMachineArn") if k not in outputs]
        if missing:
            raise ReplayError(f"stack {args.stack} has no {' or '.join(missing)} output; is it a photosort stack?")
        queue_url = queue_url or outputs["DeadLetterQueueUrl"]
        machine = machine or outputs["StateMachineArn"]
    done = drain(client("sqs"), client("stepfunctions"), queue_url, machine)
    total = len(done.started) + len(done.already)
    print(
        f"Replayed {total} event(s) from {queue_url}: {len(done.started)} started, "
        f"{len(done.already)} already started before. The queue is empty.",
        file=sys.stdout,
    )
    return 0


def add_parser(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "replay-dlq",
        help="start an execution for every event in the dead-letter queue, then delete it",
        description=(
            "Start one execution per event in the rule's dead-letter queue, named dlq-<message id>, and delete "
            "each message once its execution started. Stops with exit status 1 on the first failure, leaving "
            "that message in the queue."
        ),
    )
    parser.add_argument("--stack", default="photosort", help="read the queue and state machine from this stack")
    parser.add_argument("--queue-url", help="the dead-letter queue (default: the stack's DeadLetterQueueUrl)")
    parser.add_argument("--state-machine-arn", help="the state machine (default: the stack's StateMachineArn)")
    parser.add_argument("--endpoint-url", help="an AWS-compatible endpoint, e.g. the one `local serve` prints")
    parser.add_argument("--region", help="AWS region (default: from your AWS configuration)")
    parser.set_defaults(run=run)

"""README's shell recipes, extracted from README.md, run against `photosort local serve` with the real AWS CLI.

The recipes run in README order in one bash environment (what one sets, the next sees), each under
``set -euo pipefail`` after the README's ``prelude`` recipe, with the environment the serve banner prints.
The AWS CLI is v1 (``.ci/awscli-requirements.txt``, installed by ``make test`` into ``.venv-awscli``).
Hooks keyed by recipe name set up what the README cannot (a dead-letter message, an object stuck in
``incoming/``) and check what the recipe did. Conventions: README "Development".
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from PIL import Image, ImageOps

from photosort.models import ImageRecord
from photosort.repository import Repository
from photosort_local.samples import find_sample
from tests.cli.test_serve import ENTRY_POINT, _read_until_ready
from tests.docs.readme_recipes import Recipe, load

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
AWSCLI = REPO / ".venv-awscli" / "bin" / "aws"
VENV_BIN = Path(ENTRY_POINT).parent
RECIPES = load(README)
PRELUDE = "".join(r.code for r in RECIPES if r.kind == "prelude")
WAIT = 120.0  # generous: make test shares two cores with other suites
RECIPE_TIMEOUT = 180


def _jpeg(name: str, mirror: bool = False) -> bytes:
    image = Image.open(find_sample(name)).convert("RGB")
    buf = io.BytesIO()
    (ImageOps.mirror(image) if mirror else image).save(buf, "JPEG", quality=90)
    return buf.getvalue()


@dataclass
class Session:
    """One `photosort local serve` process, the banner's environment, and what the recipes have set."""

    process: subprocess.Popen[str]
    banner: str
    endpoint: str
    workdir: Path
    env: dict[str, str]
    outputs: dict[str, str] = field(default_factory=dict)
    last: subprocess.CompletedProcess[str] | None = None

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - moto's fake credentials
        )

    @property
    def bucket(self) -> str:
        return self.outputs["PhotoBucketName"]

    @property
    def repo(self) -> Repository:
        return Repository(self.client("dynamodb"), self.outputs["PhotoTableName"])

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.client("s3").get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return [o["Key"] for page in pages for o in page.get("Contents", [])]

    def records(self) -> list[ImageRecord]:
        return list(self.repo.scan_images())

    def wait_until(self, what: str, check: Callable[[], bool], timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                pytest.fail(f"gave up after {timeout:.0f}s waiting for {what}")
            time.sleep(0.3)

    def wait_sorted(self, key: str) -> ImageRecord:
        """Wait until ``key`` has left incoming/ and its newest record's destination exists."""
        self.wait_until(f"{key} to leave incoming/", lambda: key not in self.keys("incoming/"))
        found = sorted((r for r in self.records() if r.source_key == key), key=lambda r: r.updated_at)
        assert found, f"no record for {key}"
        assert found[-1].destination_key in self.keys(), found[-1]
        return found[-1]

    def put_unsorted(self, key: str, data: bytes) -> dict[str, Any]:
        """Put an object under incoming/ with the rule disabled (as if its event was lost); return its event."""
        events = self.client("events")
        rule = next(r["Name"] for r in events.list_rules()["Rules"] if "incoming/" in r.get("EventPattern", ""))
        events.disable_rule(Name=rule)
        try:
            s3 = self.client("s3")
            s3.put_object(Bucket=self.bucket, Key=key, Body=data)
            head = s3.head_object(Bucket=self.bucket, Key=key)
        finally:
            events.enable_rule(Name=rule)
        event = json.loads((REPO / "events" / "s3_object_created.json").read_text())
        event["id"] = str(uuid.uuid4())
        event["resources"] = [f"arn:aws:s3:::{self.bucket}"]
        event["detail"]["bucket"]["name"] = self.bucket
        event["detail"]["object"] = {
            "key": key,
            "size": head["ContentLength"],
            "etag": head["ETag"].strip('"'),
            "sequencer": uuid.uuid4().hex[:18].upper(),
        }
        return event

    def run(self, code: str, *, prelude: str = PRELUDE) -> subprocess.CompletedProcess[str]:
        """Run ``code`` in bash after the prelude, with the state so far; keep what it exports."""
        state = self.workdir / ".recipe-env"
        script = f"set -euo pipefail\n{prelude}\ncd {self.workdir}\nset -a\n{code}\nenv -0 > {state}\n"
        proc = subprocess.run(
            ["bash", "-c", script],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=RECIPE_TIMEOUT,
            check=False,
        )
        if proc.returncode == 0 and state.exists():
            pairs = (item.split("=", 1) for item in state.read_text().split("\0") if "=" in item)
            self.env = {k: v for k, v in pairs if not k.startswith(("BASH_FUNC_", "SHLVL", "_"))}
            state.unlink()
        self.last = proc
        return proc


def _banner_env(banner: str) -> dict[str, str]:
    line = next(ln for ln in banner.splitlines() if ln.strip().startswith("export "))
    return dict(item.split("=", 1) for item in line.split()[1:])


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    if not AWSCLI.exists():
        pytest.fail(f"{AWSCLI} is missing: `make test` installs it (make .venv-awscli/.installed-stamp)")
    home = tmp_path_factory.mktemp("home")  # no ~/.aws of the machine's
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    base.update(HOME=str(home), PATH=f"{AWSCLI.parent}{os.pathsep}{VENV_BIN}{os.pathsep}{base.get('PATH', '')}")
    process = subprocess.Popen(
        [str(ENTRY_POINT), "local", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**base, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"},
    )
    try:
        banner = _read_until_ready(process)
        endpoint = re.search(r"serving on (http://\S+)", banner).group(1)  # type: ignore[union-attr]
        workdir = tmp_path_factory.mktemp("recipes")
        (workdir / "photo.jpg").write_bytes(_jpeg("chelsea"))
        running = Session(process, banner, endpoint, workdir, {**base, **_banner_env(banner)})
        stack = running.client("cloudformation").describe_stacks(StackName="photosort")["Stacks"][0]
        running.outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
        yield running
    finally:
        process.kill()
        process.wait()


# -- hooks: (before, after) per recipe name ---------------------------------------------------------------------
def _after_stack_outputs(s: Session) -> None:
    assert s.env["T"] == s.outputs["PhotoTableName"] and s.env["B"] == s.bucket


def _after_upload(s: Session) -> None:
    record = s.wait_sorted("incoming/trip/IMG_0001.jpg")
    assert record.status.value == "sorted" and record.destination_key.startswith("albums/pets/")
    assert record.destination_key in s.last.stdout  # type: ignore[union-attr]


def _after_query_albums(s: Session) -> None:
    lines = [ln.split("\t") for ln in s.last.stdout.splitlines() if ln.strip()]  # type: ignore[union-attr]
    albums = dict(lines)
    assert albums["pets"] == "1"


def _before_pages(s: Session) -> None:
    """A second pets photo, so that a page of one has a next page."""
    s.client("s3").put_object(Bucket=s.bucket, Key="incoming/trip/IMG_0002.jpg", Body=_jpeg("chelsea", mirror=True))
    s.wait_sorted("incoming/trip/IMG_0002.jpg")


def _after_pages(s: Session) -> None:
    pets = sorted(r.destination_key for r in s.records() if r.status.value == "sorted" and "pets" in r.destination_key)
    assert len(pets) == 2
    assert sorted(re.findall(r"albums/pets/\S+", s.last.stdout)) == pets  # type: ignore[union-attr]
    recipe = next(r for r in RECIPES if r.name == "query-album-pages")
    assert "--page-size 20 --max-items 20" in recipe.code
    one_per_page = s.run(recipe.code.replace("--page-size 20 --max-items 20", "--page-size 1 --max-items 1"))
    assert one_per_page.returncode == 0, one_per_page.stderr
    pages = [ln for ln in one_per_page.stdout.splitlines() if "albums/pets/" in ln]
    assert len(pages) == 2 and sorted(re.findall(r"albums/pets/\S+", "\n".join(pages))) == pets, pages


def _after_query_image(s: Session) -> None:
    record = next(r for r in s.records() if r.source_key == "incoming/trip/IMG_0001.jpg")
    out = s.last.stdout  # type: ignore[union-attr]
    assert out.splitlines()[0].split("\t")[0] == record.image_id  # the owner first
    assert f"{record.image_id}\tsorted\t{record.destination_key}" in out
    assert s.env["ID"] == record.image_id


def _before_query_key(s: Session) -> None:
    """An older record holding the same key, as a replay leaves behind."""
    db = s.client("dynamodb")
    for record in [r for r in s.records() if r.destination_key.startswith("albums/pets/")]:
        item = db.get_item(
            TableName=s.outputs["PhotoTableName"], Key={"PK": {"S": f"IMAGE#{record.image_id}"}, "SK": {"S": "IMAGE"}}
        )["Item"]
        old_id = "0ld" + record.image_id[3:]
        item.update(
            PK={"S": f"IMAGE#{old_id}"},
            image_id={"S": old_id},
            status={"S": "failed"},
            updated_at={"S": "2020-01-01T00:00:00Z"},
            created_at={"S": "2020-01-01T00:00:00Z"},
        )
        db.put_item(TableName=s.outputs["PhotoTableName"], Item=item)
        db.update_item(  # the bytes item names every record of its bytes
            TableName=s.outputs["PhotoTableName"],
            Key={"PK": {"S": f"SHA#{record.sha256}"}, "SK": {"S": "CLAIM"}},
            UpdateExpression="ADD #o :id",
            ExpressionAttributeNames={"#o": "others"},
            ExpressionAttributeValues={":id": {"SS": [old_id]}},
        )


def _after_query_key(s: Session) -> None:
    key = s.env["K"]
    current = next(r for r in s.records() if r.destination_key == key and not r.image_id.startswith("0ld"))
    assert s.last.stdout.split()[:2] == [current.image_id, "sorted"], s.last.stdout  # type: ignore[union-attr]


def _after_object_tags(s: Session) -> None:
    tags = dict(ln.split("\t", 1) for ln in s.last.stdout.splitlines())  # type: ignore[union-attr]
    assert tags["photosort-status"] == "sorted" and tags["photosort-album"] == "pets"
    assert " + " in tags["photosort-labels"] and "_" not in tags["photosort-labels"]


def _before_replay_failed(s: Session) -> None:
    s.client("s3").put_object(Bucket=s.bucket, Key="failed/trip/IMG_0001-596aa1e7.jpg", Body=_jpeg("coffee"))


def _after_replay_failed(s: Session) -> None:
    record = s.wait_sorted("incoming/trip/IMG_0001.jpg")
    assert record.destination_key.startswith("albums/food/"), record
    assert not s.keys("failed/")


DLQ_KEYS = {
    "replay-dlq-command": ["incoming/dlq/a.jpg", "incoming/dlq/b.jpg"],
    "replay-dlq-loop": ["incoming/dlq/c.jpg"],
}


def _dead_letters(name: str) -> Callable[[Session], None]:
    def before(s: Session) -> None:
        sqs = s.client("sqs")
        for n, key in enumerate(DLQ_KEYS[name]):
            event = s.put_unsorted(key, _jpeg("coffee", mirror=bool(n)) + key.encode())
            sqs.send_message(QueueUrl=s.outputs["DeadLetterQueueUrl"], MessageBody=json.dumps(event))
        assert _queue_depth(s) == len(DLQ_KEYS[name])

    return before


def _queue_depth(s: Session) -> int:
    attrs = s.client("sqs").get_queue_attributes(
        QueueUrl=s.outputs["DeadLetterQueueUrl"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def _drained(name: str) -> Callable[[Session], None]:
    def after(s: Session) -> None:
        assert _queue_depth(s) == 0
        for key in DLQ_KEYS[name]:
            s.wait_sorted(key)
        executions = s.client("stepfunctions").list_executions(stateMachineArn=s.outputs["StateMachineArn"])
        named = [e["name"] for e in executions["executions"] if e["name"].startswith("dlq-")]
        assert len(named) == len(DLQ_KEYS["replay-dlq-command"]) + (
            len(DLQ_KEYS[name]) if name == "replay-dlq-loop" else 0
        )

    return after


def _before_stuck(s: Session) -> None:
    s.put_unsorted("incoming/x.jpg", _jpeg("flower"))


def _after_stuck(s: Session) -> None:
    assert s.wait_sorted("incoming/x.jpg").status.value in ("sorted", "unsorted")


HOOKS: dict[str, tuple[Callable[[Session], None] | None, Callable[[Session], None] | None]] = {
    "stack-outputs": (None, _after_stack_outputs),
    "upload": (None, _after_upload),
    "query-albums": (None, _after_query_albums),
    "query-album-pages": (_before_pages, _after_pages),
    "query-image": (None, _after_query_image),
    "query-key": (_before_query_key, _after_query_key),
    "object-tags": (None, _after_object_tags),
    "replay-failed": (_before_replay_failed, _after_replay_failed),
    "replay-dlq-command": (_dead_letters("replay-dlq-command"), _drained("replay-dlq-command")),
    "replay-dlq-loop": (_dead_letters("replay-dlq-loop"), _drained("replay-dlq-loop")),
    "replay-stuck": (_before_stuck, _after_stuck),
}


def test_readme_has_recipes_and_a_hook_for_each_that_needs_one() -> None:
    runnable = {r.name for r in RECIPES if r.kind == "run"}
    assert {"upload", "query-albums", "replay-dlq-loop", "replay-dlq-command"} <= runnable
    assert PRELUDE.strip()
    assert set(HOOKS) <= runnable, f"hooks for recipes README no longer has: {set(HOOKS) - runnable}"


@pytest.mark.parametrize("recipe", [r for r in RECIPES if r.kind != "prelude"], ids=lambda r: r.name)
def test_readme_recipe(session: Session, recipe: Recipe) -> None:
    if recipe.kind != "run":
        pytest.skip(f"{recipe.kind}: {recipe.reason} (README.md:{recipe.line})")
    before, after = HOOKS.get(recipe.name, (None, None))
    if before:
        before(session)
    proc = session.run(recipe.code)
    assert proc.returncode == 0, (
        f"README.md:{recipe.line} {recipe.name} exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    )
    if after:
        after(session)


def test_the_dlq_loop_stops_loudly_and_keeps_the_message(session: Session) -> None:
    """A failing start-execution (here: the CLI refusing every Step Functions call) ends the loop non-zero."""
    loop = next(r for r in RECIPES if r.name == "replay-dlq-loop")
    event = session.put_unsorted("incoming/dlq/loud.jpg", _jpeg("flower", mirror=True))
    session.client("sqs").send_message(QueueUrl=session.outputs["DeadLetterQueueUrl"], MessageBody=json.dumps(event))
    failing = (
        PRELUDE
        + 'aws() { if [ "$1" = stepfunctions ]; then echo "simulated failure" >&2; return 3; fi; '
        + 'command aws --endpoint-url "$AWS_ENDPOINT_URL" "$@"; }\n'
    )
    proc = session.run(loop.code, prelude=failing)
    assert proc.returncode != 0 and "simulated failure" in proc.stderr
    assert _queue_depth(session) == 1  # in flight until its visibility timeout, never deleted


def test_banner_prints_endpoint_commands_and_the_dead_letter_queue(session: Session) -> None:
    dlq = session.outputs["DeadLetterQueueUrl"]
    assert re.search(rf"dead letters\s+{re.escape(dlq)}$", session.banner, re.M)
    lines = [ln.strip() for ln in session.banner.splitlines()]
    commands = [ln for ln in lines if ln.startswith(("aws ", "photosort ")) and "serving on" not in ln]
    assert commands and all(f"--endpoint-url {session.endpoint}" in c for c in commands), commands
    assert any(c.startswith("aws --endpoint-url") and " sqs " in c and dlq in c for c in commands)
    assert any(c.startswith("photosort replay-dlq") for c in commands)


def test_endpoint_url_alone_is_enough_for_photosort(session: Session) -> None:
    """No export at all: a 127.0.0.1 endpoint gets the local region and dummy credentials."""
    env = {k: v for k, v in session.env.items() if not k.startswith("AWS_")}
    proc = subprocess.run(
        [str(ENTRY_POINT), "albums", "--endpoint-url", session.endpoint, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "pets" in {a["album"] for a in json.loads(proc.stdout)["albums"]}

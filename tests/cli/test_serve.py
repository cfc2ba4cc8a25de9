"""``photosort local serve`` through the real entry point, and ``albums``/``album`` against its endpoint."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from photosort.models import ImageRecord
from photosort.repository import Repository
from photosort_local.samples import find_sample

ENTRY_POINT = Path(sys.executable).with_name("photosort")
FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
START_TIMEOUT = 90.0
SORT_TIMEOUT = 60.0


@dataclass
class Served:
    process: subprocess.Popen[str]
    endpoint: str
    bucket: str
    table: str

    def client(self, service: str):
        return boto3.client(service, endpoint_url=self.endpoint, region_name="us-east-1", **_credentials())


def _credentials() -> dict[str, str]:
    return {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def _read_until_ready(process: subprocess.Popen[str]) -> str:
    """Everything serve prints up to its Ready line; fails fast if it exits or takes too long."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            pytest.fail(f"serve exited early with {process.wait()}:\n{''.join(seen)}")
        seen.append(line)
        if line.startswith("Ready."):
            return "".join(seen)
    pytest.fail(f"serve did not get ready in {START_TIMEOUT}s:\n{''.join(seen)}")


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_ENDPOINT_URL", "AWS_PROFILE"))}
    process = subprocess.Popen(
        [str(ENTRY_POINT), "local", "serve", "--port", "0", "--gallery-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**env, **FAKE_ENV},
    )
    try:
        guide = _read_until_ready(process)
        yield Served(
            process=process,
            endpoint=re.search(r"serving on (http://\S+)", guide).group(1),
            bucket=re.search(r"bucket\s+(\S+)", guide).group(1),
            table=re.search(r"table\s+(\S+)", guide).group(1),
        )
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _wait_for_record(repo: Repository, source_key: str) -> ImageRecord:
    deadline = time.monotonic() + SORT_TIMEOUT
    while time.monotonic() < deadline:
        found = [r for r in repo.scan_images() if r.source_key == source_key]
        if found:
            return found[0]
        time.sleep(0.2)
    pytest.fail(f"no record for {source_key} after {SORT_TIMEOUT}s")


@pytest.fixture(scope="module")
def uploaded(served: Served) -> ImageRecord:
    """chelsea.png uploaded through the server, as `aws s3 cp` would, and sorted by the stack behind it."""
    key = "incoming/from the server/chelsea.png"
    served.client("s3").put_object(Bucket=served.bucket, Key=key, Body=find_sample("chelsea").read_bytes())
    return _wait_for_record(Repository(served.client("dynamodb"), served.table), key)


def test_upload_through_server_is_sorted(served: Served, uploaded: ImageRecord) -> None:
    assert uploaded.status.value == "sorted"
    assert uploaded.destination_key.startswith("albums/pets/")
    s3 = served.client("s3")
    deadline = time.monotonic() + SORT_TIMEOUT  # the record is written before the Sort step moves the object
    while time.monotonic() < deadline:
        listed = s3.list_objects_v2(Bucket=served.bucket).get("Contents", [])
        keys = [o["Key"] for o in listed if not o["Key"].startswith("sam-local/")]  # serve's sam local sample
        if keys == [uploaded.destination_key]:  # thumbnails are made on first view, not by the workflow
            break
        time.sleep(0.2)
    assert keys == [uploaded.destination_key]


def test_albums_json(cli, served: Served, uploaded: ImageRecord) -> None:
    run = cli("albums", "--endpoint-url", served.endpoint, "--table", served.table, "--region", "us-east-1", "--json")
    assert run.code == 0, run.err
    albums = json.loads(run.out)["albums"]
    assert {"album": "pets", "kind": "album", "image_count": 1} in albums


def test_album_by_stack_name(cli, served: Served, uploaded: ImageRecord) -> None:
    run = cli("album", "pets", "--endpoint-url", served.endpoint, "--stack", "photosort", "--json")
    assert run.code == 0, run.err
    page = json.loads(run.out)
    assert page["album"] == "pets" and page["image_count"] == 1 and page["next_token"] is None
    assert [item["destination_key"] for item in page["items"]] == [uploaded.destination_key]

    human = cli("album", "pets", "--endpoint-url", served.endpoint, "--table", served.table)
    assert human.code == 0 and uploaded.destination_key in human.out


def test_unknown_album(cli, served: Served, uploaded: ImageRecord) -> None:
    run = cli("album", "dinosaurs", "--endpoint-url", served.endpoint, "--table", served.table)
    assert run.code == 1
    assert "no album named dinosaurs; albums: animals, pets" in run.err


def test_local_backfill_runs_every_mode_and_reads_an_inventory(cli, served: Served, uploaded: ImageRecord) -> None:
    # GIVEN a photo and a non-image already in the served bucket, outside incoming/
    s3 = served.client("s3")
    s3.put_object(Bucket=served.bucket, Key="old/My Photos/coffee 1.png", Body=find_sample("coffee").read_bytes())
    s3.put_object(Bucket=served.bucket, Key="old/notes.txt", Body=b"not a photo")
    endpoint = ("--endpoint-url", served.endpoint, "--region", "us-east-1")

    # WHEN `photosort local backfill --inventory` plans, then runs, an ingest from an S3 Inventory of the bucket
    planned = cli("local", "backfill", *endpoint, "--mode", "ingest", "--inventory", "--prefix", "old/", "--dry-run")
    ran = cli("local", "backfill", *endpoint, "--mode", "ingest", "--inventory", "--prefix", "old/", "--json")

    # THEN the plan counts the inventory's rows and the run sorts both objects from them; the other modes run too
    assert planned.code == 0, planned.err
    assert "from the S3 Inventory s3://photosort-local-inventory/" in planned.out
    assert "moved 2" in planned.out and ": outside the prefix 'old/'" in planned.out
    assert ran.code == 0, ran.err
    report = json.loads(ran.out)
    assert report["status"] == "SUCCEEDED" and report["failed_items"] == []
    assert (
        report["outcomes"]["rejected"] == 1
        and report["outcomes"]["sorted"] + report["outcomes"].get("unsorted", 0) == 1
    )
    assert s3.list_objects_v2(Bucket=served.bucket, Prefix="old/").get("KeyCount") == 0
    rerouted = cli("local", "backfill", *endpoint, "--mode", "reroute")
    assert rerouted.code == 0 and "unchanged" in rerouted.out, rerouted.out + rerouted.err
    reclassified = cli("local", "backfill", *endpoint, "--mode", "reclassify", "--json")
    assert reclassified.code == 0, reclassified.err
    assert json.loads(reclassified.out)["outcomes"]["current"] == 2  # both photos: this model, no head
    both = cli("local", "backfill", *endpoint, "--mode", "ingest", "--inventory", "--manifest", "s3://b/m.json")
    assert both.code == 1 and "give --inventory or --manifest" in both.err


def test_sigterm_stops_serve(served: Served) -> None:
    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(timeout=30) == 0

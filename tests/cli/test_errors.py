"""Clear one-line errors and exit codes for the usual mistakes; none of these start the stack."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from photosort.routing import parse_rules
from photosort_local.cli import main
from photosort_local.cli.inputs import load_rules_file
from photosort_local.samples import find_sample

RULES_YAML = """\
min_confidence: 50
rules:
  - album: cats
    labels: [Cat]
"""


def test_missing_path(cli, tmp_path: Path) -> None:
    run = cli("local", "sort", str(tmp_path / "nope.jpg"), "--out", str(tmp_path / "out"))
    assert run.code == 2
    assert "nope.jpg: no such file or folder" in run.err
    assert "Traceback" not in run.err


def test_bad_rules_file_names_the_field(cli, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - album: Bad Name!\n    labels: [Cat]\n")
    photo = tmp_path / "a.jpg"
    photo.write_bytes(b"x")
    run = cli("local", "sort", str(photo), "--out", str(tmp_path / "out"), "--rules", str(rules))
    assert run.code == 2
    assert "rules.0.album" in run.err and "not a valid name" in run.err
    assert not (tmp_path / "out").exists()


def test_rules_file_becomes_one_line_json(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES_YAML)
    parameter = load_rules_file(str(rules))
    assert "\n" not in parameter
    assert parse_rules(parameter).rules[0].album == "cats"  # what the functions will parse at start
    assert load_rules_file("dealership") == "dealership"


def test_port_in_use(cli) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = cli("local", "serve", "--port", str(port))
    assert run.code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in run.err


def test_classify_json_and_bad_files(cli, tmp_path: Path) -> None:
    chelsea = str(find_sample("chelsea"))
    not_image = tmp_path / "notes.jpg"
    not_image.write_text("hello")
    run = cli("classify", str(tmp_path / "missing.jpg"), chelsea, str(not_image), str(tmp_path), "--json")
    assert run.code == 1
    lines = [json.loads(line) for line in run.out.splitlines()]
    assert [line["source"] for line in lines] == [str(tmp_path / "missing.jpg"), chelsea, str(not_image), str(tmp_path)]
    cat = lines[1]
    assert cat["backend"] == "local"
    assert "Cat" in [label["name"] for label in cat["labels"][:2]]
    assert "No such file" in lines[0]["error"] and "NotAnImage" in lines[2]["error"]
    assert "Is a directory" in lines[3]["error"]
    assert run.err.count("photosort: error:") == 3


def test_classify_rekognition_is_refused(cli) -> None:
    run = cli("classify", str(find_sample("chelsea")), "--backend", "rekognition")
    assert run.code == 2
    assert "reads the photo from S3" in run.err


def test_no_command_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2

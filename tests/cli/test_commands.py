"""The command registry: every module in COMMAND_MODULES registers its parser(s) and runs through its own ``run``."""

from __future__ import annotations

import argparse

import pytest

from photosort_local.cli import build_parser
from photosort_local.cli import commands as command_modules


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_registered_command_runs_through_a_command_modules_run() -> None:
    runs = {command.run for command in command_modules()}

    commands = subcommands(build_parser())

    assert set(commands) == {
        "demo",
        "local",
        "albums",
        "album",
        "classify",
        "evaluate",
        "cost",
        "replay-dlq",
        "backfill",
        "labels",
        "near-duplicates",
        "devset",
    }
    assert all(parser.get_default("run") in runs for parser in commands.values())


@pytest.mark.parametrize(
    "argv",
    [["demo"], ["local", "sort", "x", "--out", "y"], ["album", "pets"], ["cost"], ["backfill", "--mode", "ingest"]],
)
def test_arguments_reach_the_modules_run(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)

    assert args.command == argv[0] and callable(args.run)


def test_a_missing_local_extra_is_named_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from photosort_local.cli import demo, main

    def needs_moto(args: argparse.Namespace) -> int:
        raise ModuleNotFoundError("No module named 'moto'", name="moto")

    monkeypatch.setattr(demo, "run", needs_moto)

    assert main(["demo"]) == 1
    err = capsys.readouterr().err
    assert "moto is missing" in err and "pip install -e '.[local]'" in err and "Traceback" not in err


def test_a_missing_run_time_module_is_not_blamed_on_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from photosort_local.cli import demo, main

    def broken(args: argparse.Namespace) -> int:
        raise ModuleNotFoundError("No module named 'photosort_nothing'", name="photosort_nothing")

    monkeypatch.setattr(demo, "run", broken)

    with pytest.raises(ModuleNotFoundError):
        main(["demo"])


def test_local_backfill_is_backfill_against_the_served_stack() -> None:
    from photosort_local.cli import backfill

    args = build_parser().parse_args(["local", "backfill", "--mode", "reroute", "--dry-run"])

    assert args.local_command == "backfill" and args.mode == "reroute" and args.dry_run
    assert args.endpoint_url == backfill.LOCAL_ENDPOINT == "http://127.0.0.1:5000"
    assert build_parser().parse_args(["backfill", "--mode", "reroute"]).endpoint_url is None

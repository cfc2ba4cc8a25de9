"""The command registry: every module in COMMANDS registers its parser(s) and runs through its own ``run``."""

from __future__ import annotations

import argparse

import pytest

from photosort_local.cli import COMMANDS, build_parser


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_registered_command_runs_through_a_command_modules_run() -> None:
    runs = {command.run for command in COMMANDS}

    commands = subcommands(build_parser())

    assert set(commands) == {"demo", "local", "albums", "album", "classify", "cost", "replay-dlq"}
    assert all(parser.get_default("run") in runs for parser in commands.values())


@pytest.mark.parametrize("argv", [["demo"], ["local", "sort", "x", "--out", "y"], ["album", "pets"], ["cost"]])
def test_arguments_reach_the_modules_run(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)

    assert args.command == argv[0] and callable(args.run)

"""What every ``photosort`` command shares: the program name, the errors that end a command, option types."""

from __future__ import annotations

import argparse
import logging
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]

PROG = "photosort"


class CliError(Exception):
    """A problem to report in one line, without a traceback."""

    exit_code = 1


class UsageError(CliError):
    exit_code = 2


class Command(Protocol):
    """A command module: ``add_parser`` registers its parser(s) with ``set_defaults(run=run)``."""

    def add_parser(self, subcommands: Subcommands) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("must be 0-65535 (0 picks a free port)")
    return value


def quiet_libraries() -> None:
    """moto narrates every failed state and werkzeug every request; the CLI says what matters."""
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

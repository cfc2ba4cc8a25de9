"""The ``photosort`` command line: try the pipeline offline, sort your own photos, query a stack's table.

    photosort demo                          the bundled sample photos through the whole pipeline, offline
    photosort local sort PATH... --out DIR  your photos through the same pipeline; the bucket tree lands in DIR
    photosort local serve [--port N]        the stack behind an AWS-compatible endpoint, until Ctrl-C
    photosort albums | album NAME           query a deployed (or served) stack's table
    photosort classify FILE... [--backend]  labels only, nothing moves (any backend, on local files)
    photosort evaluate DIR [--backend ...]  measure backends on your labelled photos and recommend one
    photosort cost --images N               itemised monthly AWS cost per classifier backend
    photosort replay-dlq [--stack NAME]     replay the dead-letter queue's events, one named execution each
    photosort backfill --mode MODE          ingest, reroute or reclassify what the bucket already holds

The offline commands deploy template.yaml into moto (:mod:`photosort_local.stack`): the real state machine
and the real handlers, in this process. Exit codes: 0 done (rejected photos included), 1 something failed
(a broken stack, an AWS error, an unknown album, an unreadable file for ``classify``), 2 a usage error.

Adding a command: write a module in this package with ``add_parser(subcommands)`` (which registers its
parser with ``set_defaults(run=run)``) and ``run(args) -> int``, and add its name to :data:`COMMAND_MODULES`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from photosort_local.cli.common import PROG, CliError, quiet_libraries

if TYPE_CHECKING:
    from photosort_local.cli.common import Command

LOCAL_EXTRA = frozenset({"moto", "samtranslator", "yaml", "tqdm", "matplotlib", "skimage", "sklearn", "werkzeug"})
"""Top-level modules of the ``local`` extra: the embedded stack, the rules loader, the progress bar, the plots."""

COMMAND_MODULES: tuple[str, ...] = (
    "photosort_local.cli.demo",
    "photosort_local.cli.local",
    "photosort_local.cli.albums",
    "photosort_local.cli.classify",
    "photosort_local.cli.evaluate",
    "photosort_local.cli.cost",
    "photosort_local.cli.replay_dlq",
    "photosort_local.cli.backfill",
    "photosort_local.cli.labels",
    "photosort_local.cli.near_duplicates",
    "photosort_local.devset",
)
"""Every command module, in the order ``photosort --help`` lists them. They are imported when the parser is
built, not with this package: a process that only needs a helper of the CLI (a sort worker, say, which
multiprocessing starts by importing the ``photosort`` script's module) does not pay for every command."""


def commands() -> tuple[Command, ...]:
    """The command modules, imported."""
    return tuple(importlib.import_module(name) for name in COMMAND_MODULES)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Event-driven photo sorting (S3 -> EventBridge -> Step Functions -> Lambda), runnable offline.",
        epilog=f"Start with: {PROG} demo",
    )
    subcommands = parser.add_subparsers(title="commands", metavar="COMMAND", dest="command", required=True)
    for command in commands():
        command.add_parser(subcommands)
    return parser


def _fail(message: str, code: int) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from photosort.errors import ConfigurationError, PhotosortError
    from photosort_local.checkout import CheckoutError

    quiet_libraries()
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except CliError as exc:
        return _fail(str(exc), exc.exit_code)
    except ConfigurationError as exc:
        return _fail(str(exc), 2)
    except CheckoutError as exc:
        return _fail(str(exc), 1)
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in LOCAL_EXTRA:
            raise
        return _fail(
            f"{exc.name} is missing: this command needs photosort's local extra (pip install -e '.[local]')", 1
        )
    except (PhotosortError, BotoCoreError, ClientError) as exc:
        return _fail(str(exc), 1)
    return code
